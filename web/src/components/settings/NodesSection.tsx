import { useCreateNode, useDeleteNode } from "../../api/queries.ts";
import type { Node } from "../../api/types.ts";
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

function AddNodeForm() {
  const create = useCreateNode();
  if (create.data) {
    return (
      <SecretOnce
        title={`Join ${create.data.node.name}`}
        value={create.data.join_command}
        onDone={() => create.reset()}
      >
        <p>
          Run this on the new machine (with Corral installed). The token in it works once, until{" "}
          <time dateTime={create.data.expires_at}>
            {new Date(create.data.expires_at).toLocaleString()}
          </time>
          .
        </p>
      </SecretOnce>
    );
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

/** The machines that run workspaces; the owner adds and removes them. */
export function NodesSection({ isOwner }: { isOwner: boolean }) {
  return (
    <section aria-labelledby="nodes-settings-heading" className="panel" id="nodes">
      <h2 id="nodes-settings-heading">Nodes</h2>
      <NodeTable detailed actions={isOwner ? (node) => <RemoveNode node={node} /> : undefined} />
      {isOwner ? <AddNodeForm /> : <p className="muted">Only the owner adds and removes nodes.</p>}
    </section>
  );
}
