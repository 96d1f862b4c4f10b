import { useId, useState, type FormEvent } from "react";

import { useNodes } from "../../api/nodes.ts";
import { useAddAgent, useAgents, useRemoveAgent } from "../../api/queries.ts";
import type { Agent, Node } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { QueryTable } from "../QueryTable.tsx";
import { AgentSettingsForm } from "./AgentSettingsForm.tsx";
import { ConfirmButton, SubmitButton, TextField, fieldError, splitCommand } from "../form.tsx";

/** Names of the nodes that report `package@version` installed (their heartbeats list them). */
function nodesWith(nodes: readonly Node[], installed: string): string[] {
  return nodes
    .filter((n) => Array.isArray(n.usage.agents) && n.usage.agents.includes(installed))
    .map((n) => n.name);
}

/** Where a node gets the agent (the catalog's npm package, or your command), and which have it. */
function Install({ agent }: { agent: Agent }) {
  const nodes = useNodes();
  if (agent.package) {
    const on = agent.version
      ? nodesWith(nodes.data ?? [], `${agent.package}@${agent.version}`)
      : [];
    return (
      <>
        <code className="break">
          {agent.package}
          {agent.version && `@${agent.version}`}
        </code>
        <br />
        <span className="muted">
          {on.length > 0
            ? `installed on ${on.join(", ")}; other nodes install it at first use`
            : "installed on a node at first use"}
        </span>
      </>
    );
  }
  return (
    <>
      <code className="break">{agent.command.join(" ")}</code>
      <br />
      <span className="muted">must be under /usr on the node, where the sandbox shows it</span>
    </>
  );
}

function AgentRow({
  agent,
  editing,
  onEdit,
}: {
  agent: Agent;
  editing: boolean;
  onEdit: (name: string | null) => void;
}) {
  const remove = useRemoveAgent();
  return (
    <tr>
      <td>
        {agent.title}
        {agent.title !== agent.name && (
          <>
            {" "}
            <code className="muted">{agent.name}</code>
          </>
        )}
      </td>
      <td>{agent.builtin ? "built in" : "yours"}</td>
      <td className="hide-narrow">
        <Install agent={agent} />
      </td>
      <td className="hide-narrow">
        {agent.credential_kinds.join(", ") || <span className="muted">—</span>}
      </td>
      <td>
        <div className="button-row">
          <button
            type="button"
            aria-expanded={editing}
            aria-label={`Settings for ${agent.title}`}
            onClick={() => onEdit(editing ? null : agent.name)}
          >
            Settings
          </button>
          {!agent.builtin && (
            <ConfirmButton
              label={`Remove ${agent.name}`}
              question={`Remove the agent ${agent.name}?`}
              confirmLabel="Remove"
              pending={remove.isPending}
              onConfirm={() => remove.mutate(agent.name, { onSuccess: () => onEdit(null) })}
            >
              Remove
            </ConfirmButton>
          )}
        </div>
        {remove.isError && <ErrorMessage error={remove.error} />}
      </td>
    </tr>
  );
}

function AddAgentForm() {
  const [name, setName] = useState("");
  const [command, setCommand] = useState("");
  const add = useAddAgent();
  const headingId = useId();
  const args = splitCommand(command);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || args.length === 0 || add.isPending) return;
    add.mutate(
      { name: name.trim(), command: args },
      {
        onSuccess: () => {
          setName("");
          setCommand("");
        },
      },
    );
  };

  const nameError = fieldError(add.error, "body.name");
  const commandError = fieldError(add.error, "body.command");
  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId}>
      <h3 id={headingId}>Add your own ACP agent</h3>
      <div className="form-grid">
        <TextField
          label="Name"
          error={nameError}
          value={name}
          required
          maxLength={64}
          spellCheck={false}
          autoComplete="off"
          onChange={setName}
        />
        <TextField
          label="Command"
          error={commandError}
          hint={
            "A program under /usr on the node (the workspace's sandbox shows nothing else of it) " +
            "that speaks ACP on stdin and stdout, with its arguments; quote an argument that " +
            "holds spaces. For an npm package, `corral agent add --package` installs it."
          }
          value={command}
          required
          spellCheck={false}
          autoComplete="off"
          placeholder="my-agent --acp"
          onChange={setCommand}
        />
      </div>
      {add.isError && !nameError && !commandError && <ErrorMessage error={add.error} />}
      <div className="button-row">
        <SubmitButton
          pending={add.isPending}
          pendingLabel="Adding…"
          disabled={!name.trim() || args.length === 0}
        >
          Add agent
        </SubmitButton>
        <span role="status" className="muted">
          {add.isSuccess && `Added ${add.data.name}.`}
        </span>
      </div>
    </form>
  );
}

/** The agent catalog, your own agents, and your settings for each. */
export function AgentsSection() {
  const agents = useAgents();
  const [editing, setEditing] = useState<string | null>(null);
  const editingAgent = agents.data?.find((a) => a.name === editing);
  return (
    <section aria-labelledby="agents-heading" className="panel" id="agents">
      <h2 id="agents-heading">Agents</h2>
      <QueryTable
        query={agents}
        what="agents"
        rows={agents.data}
        empty="No agents."
        head={
          <>
            <th scope="col">Agent</th>
            <th scope="col">Source</th>
            <th scope="col" className="hide-narrow">
              Install
            </th>
            <th scope="col" className="hide-narrow">
              Credential kinds
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </>
        }
      >
        {(a) => (
          <AgentRow key={a.name} agent={a} editing={a.name === editing} onEdit={setEditing} />
        )}
      </QueryTable>
      {editingAgent && <AgentSettingsForm key={editingAgent.name} agent={editingAgent} />}
      <AddAgentForm />
    </section>
  );
}
