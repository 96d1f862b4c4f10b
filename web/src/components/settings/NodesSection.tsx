import { useCreateNode, useDeleteNode, useReissueJoinToken } from "../../api/queries.ts";
import type { Node, NodeCreated } from "../../api/types.ts";
import { NodeTable } from "../NodeTable.tsx";
import { ErrorMessage } from "../QueryStatus.tsx";
import { ConfirmButton, NameForm, SecretOnce } from "../form.tsx";

function RemoveNode({ node }: { node: Node }) {
  const remove = useDeleteNode();
  return (
    <>
      <ConfirmButton
        label={`Remove ${node.name}`}
        question={
          `Remove ${node.name}? Its credential stops working, ` +
          "and its workspaces lose their node."
        }
        confirmLabel="Remove"
        pending={remove.isPending}
        onConfirm={() => remove.mutate(node.id)}
      >
        Remove
      </ConfirmButton>
      {remove.isError && <ErrorMessage error={remove.error} />}
    </>
  );
}

/** The command that joins a machine as `created.node`, shown once. */
function JoinCommand({ created, onDone }: { created: NodeCreated; onDone: () => void }) {
  const expiresAt = created.expires_at ?? "";
  return (
    <SecretOnce
      title={`Join ${created.node.name}`}
      value={created.join_command ?? ""}
      onDone={onDone}
    >
      <p>
        Run this on the new machine (with Corral installed). The token in it works once, until{" "}
        <time dateTime={expiresAt}>{new Date(expiresAt).toLocaleString()}</time>.
      </p>
    </SecretOnce>
  );
}

function AddNodeForm() {
  const create = useCreateNode();
  if (create.data) {
    return <JoinCommand created={create.data} onDone={() => create.reset()} />;
  }
  return (
    <NameForm
      title="Add a node"
      mutation={create}
      label="Node name"
      hint="Lower-case letters, digits, '.', '_', '-'."
      maxLength={64}
      spellCheck={false}
      submit="Add node"
      pendingLabel="Adding…"
    />
  );
}

/**
 * The machines that run workspaces; the owner adds and removes them, and makes a new join
 * command for one that has not joined yet (its earlier token stops working).
 */
export function NodesSection({ isOwner }: { isOwner: boolean }) {
  const reissue = useReissueJoinToken();
  const actions = (node: Node) => (
    <>
      {node.state === "pending" && (
        <button
          type="button"
          aria-label={`New join command for ${node.name}`}
          disabled={reissue.isPending}
          onClick={() => reissue.mutate(node.id)}
        >
          New join command
        </button>
      )}{" "}
      <RemoveNode node={node} />
    </>
  );
  return (
    <section aria-labelledby="nodes-settings-heading" className="panel" id="nodes">
      <h2 id="nodes-settings-heading">Nodes</h2>
      <NodeTable detailed actions={isOwner ? actions : undefined} />
      {reissue.isError && <ErrorMessage error={reissue.error} />}
      {reissue.data && <JoinCommand created={reissue.data} onDone={() => reissue.reset()} />}
      {isOwner ? <AddNodeForm /> : <p className="muted">Only the owner adds and removes nodes.</p>}
    </section>
  );
}
