/** A node's, workspace's or session's state as a small coloured label. */
export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${state}`}>{state.replaceAll("_", " ")}</span>;
}
