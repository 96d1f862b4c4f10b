import { useDeleteNode, useReissueJoinToken } from "../../api/nodes.ts";
import type { Node } from "../../api/types.ts";
import { machineKind, sshTarget } from "../../lib/nodes.ts";
import { NodeTable } from "../NodeTable.tsx";
import { ErrorMessage } from "../QueryStatus.tsx";
import { ConfirmButton } from "../form.tsx";
import { AddNodeForm } from "./AddNodeForm.tsx";
import { DefaultNode } from "./DefaultNode.tsx";
import { JoinCommand } from "./NodeFormParts.tsx";

/** What removing `node` does, asked before it is done: a cloud machine is deleted (and its bill
 * ends), an SSH install is removed from its server. */
export function removalQuestion(node: Node): string {
  const workspaces = "its workspaces lose their node.";
  switch (machineKind(node)) {
    case "cloud":
      return (
        `Remove ${node.name}? Its machine is deleted at ${node.provider}, with everything on ` +
        `it, and its bill ends; ${workspaces}`
      );
    case "machine":
      return (
        `Remove ${node.name}? The node is uninstalled from ${sshTarget(node)} (the server ` +
        `itself stays); ${workspaces}`
      );
    case "manual":
      return `Remove ${node.name}? Its credential stops working, and ${workspaces}`;
  }
}

function RemoveNode({ node }: { node: Node }) {
  const remove = useDeleteNode();
  return (
    <>
      <ConfirmButton
        label={`Remove ${node.name}`}
        question={removalQuestion(node)}
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

/**
 * The machines that run workspaces. The owner adds nodes by hand and removes any; anyone adds
 * one a provider makes, with their own credential, and removes their own. The owner makes a new
 * join command for a manual node that has not joined yet (its earlier token stops working).
 */
export function NodesSection({ isOwner, userId }: { isOwner: boolean; userId?: string }) {
  const reissue = useReissueJoinToken();
  const actions = (node: Node) => (
    <>
      {isOwner && node.state === "pending" && node.provider === "manual" && (
        <button
          type="button"
          aria-label={`New join command for ${node.name}`}
          disabled={reissue.isPending}
          onClick={() => reissue.mutate(node.id)}
        >
          New join command
        </button>
      )}{" "}
      {(isOwner || node.user_id === userId) && node.state !== "deleting" && (
        <RemoveNode node={node} />
      )}
    </>
  );
  return (
    <section aria-labelledby="nodes-settings-heading" className="panel" id="nodes">
      <h2 id="nodes-settings-heading">Nodes</h2>
      <NodeTable detailed actions={actions} />
      {reissue.isError && <ErrorMessage error={reissue.error} />}
      {reissue.data && <JoinCommand created={reissue.data} onDone={() => reissue.reset()} />}
      <AddNodeForm isOwner={isOwner} />
      <DefaultNode />
    </section>
  );
}
