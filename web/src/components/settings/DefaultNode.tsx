import { useClearDefaultNode, useDefaultNode, useSetDefaultNode } from "../../api/nodes.ts";
import type { NodeTemplate } from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";

/** `a hetzner node, cx23 in fsn1`. */
export function describeTemplate(template: NodeTemplate): string {
  const where = [template.machine_type, template.region && `in ${template.region}`]
    .filter(Boolean)
    .join(" ");
  return `a ${template.provider} node${where ? `, ${where}` : ""}`;
}

/**
 * The node Corral makes for you when one of your workspaces waits for room on every node, with
 * a way to stop that. It is set from the cloud node form ("Make it my default node").
 */
export function DefaultNode() {
  const current = useDefaultNode();
  const clear = useClearDefaultNode();
  if (!current.isSuccess) return <QueryStatus query={current} what="your default node" />;
  const template = current.data;
  return (
    <div className="default-node">
      <h3>When no node has room</h3>
      {template ? (
        <p>
          Corral makes {describeTemplate(template)} for you (with your {template.provider}{" "}
          credential), and your waiting workspace lands on it.{" "}
          <button type="button" disabled={clear.isPending} onClick={() => clear.mutate()}>
            Stop making nodes
          </button>
        </p>
      ) : (
        <p>
          Your workspaces wait for room. To have Corral make a cloud node for them instead, pick one
          in the cloud form below and choose “Make it my default node”.
        </p>
      )}
      {clear.isError && <ErrorMessage error={clear.error} />}
    </div>
  );
}

/** The cloud form's second action: the chosen node becomes the default instead of made now. */
export function MakeDefaultButton({ template }: { template: NodeTemplate | null }) {
  const save = useSetDefaultNode();
  return (
    <>
      <button
        type="button"
        disabled={!template || save.isPending}
        onClick={() => template && save.mutate(template)}
      >
        Make it my default node
      </button>
      {save.isSuccess && <span role="status"> Saved as your default node.</span>}
      {save.isError && <ErrorMessage error={save.error} />}
    </>
  );
}
