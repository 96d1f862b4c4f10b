import { useId, useState, type FormEvent } from "react";

import { useCreateNode, useDeleteNode, useNodes } from "../../api/queries.ts";
import type { Node } from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";
import { ConfirmButton, Field, SecretOnce, fieldError } from "../form.tsx";

function load(node: Node): string {
  const load1 = node.usage.load1;
  const cpus = node.capacity.cpus;
  if (typeof load1 !== "number") return "—";
  return typeof cpus === "number" ? `${load1.toFixed(2)} / ${cpus} CPUs` : load1.toFixed(2);
}

function NodeRow({ node, canRemove }: { node: Node; canRemove: boolean }) {
  const remove = useDeleteNode();
  return (
    <tr>
      <td>
        {node.name}
        <br />
        <span className="muted">{node.provider}</span>
      </td>
      <td>
        <StateBadge state={node.state} />
        {node.state_reason && <div className="muted">{node.state_reason}</div>}
      </td>
      <td className="num">{load(node)}</td>
      <td className="hide-narrow">
        {node.connected ? "connected" : "not connected"}
        {node.last_seen_at && (
          <div className="muted">
            seen <Ago at={node.last_seen_at} />
          </div>
        )}
      </td>
      <td className="hide-narrow">{node.agent_version ?? <span className="muted">—</span>}</td>
      {canRemove && (
        <td>
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
        </td>
      )}
    </tr>
  );
}

function AddNodeForm() {
  const [name, setName] = useState("");
  const create = useCreateNode();
  const headingId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || create.isPending) return;
    create.mutate(name.trim(), { onSuccess: () => setName("") });
  };

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

  const nameError = fieldError(create.error, "body.name");
  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId}>
      <h3 id={headingId}>Add a node</h3>
      <div className="form-grid">
        <Field
          label="Node name"
          error={nameError}
          hint="Lower-case letters, digits, '.', '_', '-'."
        >
          {(props) => (
            <input
              {...props}
              type="text"
              value={name}
              required
              maxLength={64}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
      </div>
      {create.isError && !nameError && <ErrorMessage error={create.error} />}
      <button type="submit" className="button-primary" disabled={!name.trim() || create.isPending}>
        {create.isPending ? "Adding…" : "Add node"}
      </button>
    </form>
  );
}

/** The machines that run workspaces; the owner adds and removes them. */
export function NodesSection({ isOwner }: { isOwner: boolean }) {
  const nodes = useNodes();
  return (
    <section aria-labelledby="nodes-settings-heading" className="panel" id="nodes">
      <h2 id="nodes-settings-heading">Nodes</h2>
      <QueryStatus query={nodes} what="nodes" />
      {nodes.data &&
        (nodes.data.items.length === 0 ? (
          <p className="muted">No nodes yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Load (1 min)
                  </th>
                  <th scope="col" className="hide-narrow">
                    Link
                  </th>
                  <th scope="col" className="hide-narrow">
                    Version
                  </th>
                  {isOwner && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {nodes.data.items.map((n) => (
                  <NodeRow key={n.id} node={n} canRemove={isOwner} />
                ))}
              </tbody>
            </table>
          </div>
        ))}
      {isOwner ? <AddNodeForm /> : <p className="muted">Only the owner adds and removes nodes.</p>}
    </section>
  );
}
