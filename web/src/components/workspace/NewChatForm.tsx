import { useState, type FormEvent } from "react";
import { Link } from "react-router";

import { isApiError } from "../../api/client.ts";
import { useAgents, useStartSession } from "../../api/queries.ts";
import { POLICIES, type Policy, type Session } from "../../api/types.ts";
import { SelectField, SubmitButton, TextField } from "../form.tsx";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";

/** Start a chat in a workspace: which agent, and what it may do without asking. */
export function NewChatForm({
  workspaceId,
  onStarted,
  onCancel,
}: {
  workspaceId: string;
  onStarted: (session: Session) => void;
  onCancel: () => void;
}) {
  const agents = useAgents();
  const start = useStartSession();
  const [agent, setAgent] = useState("");
  const [policy, setPolicy] = useState<Policy>("ask");
  const [title, setTitle] = useState("");
  const chosen = agent || agents.data?.[0]?.name || "";

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!chosen) return;
    start.mutate(
      { workspace: workspaceId, agent: chosen, policy, ...(title.trim() ? { title } : {}) },
      { onSuccess: onStarted },
    );
  };

  return (
    <form className="new-chat card" onSubmit={submit} aria-label="New chat">
      <SelectField label="Agent" value={chosen} onChange={setAgent}>
        {(agents.data ?? []).map((a) => (
          <option key={a.name} value={a.name}>
            {a.title || a.name}
            {a.builtin ? "" : " (custom)"}
          </option>
        ))}
      </SelectField>
      <SelectField
        label="Permissions"
        value={policy}
        onChange={(value) => setPolicy(value as Policy)}
        hint="What the agent may do without asking: nothing, reads, reads and edits, or everything."
      >
        {POLICIES.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </SelectField>
      <TextField
        label="Title (optional)"
        value={title}
        maxLength={200}
        onChange={setTitle}
        placeholder="Named after the first prompt when empty"
      />
      <QueryStatus query={agents} what="agents" />
      {start.isError && <ErrorMessage error={start.error} />}
      {isApiError(start.error) && start.error.code === "credential_missing" && (
        <p>
          Add the key in <Link to="/settings#credentials">Settings → Credentials</Link>, then choose
          it in the agent's settings under <Link to="/settings#agents">Settings → Agents</Link>.
        </p>
      )}
      <div className="button-row">
        <SubmitButton pending={start.isPending} pendingLabel="Starting…" disabled={!chosen}>
          Start chat
        </SubmitButton>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
