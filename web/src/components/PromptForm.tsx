import { useId, useState, type FormEvent, type KeyboardEvent } from "react";

import { useCancelSession, useSendPrompt } from "../api/queries.ts";
import { ErrorMessage } from "./QueryStatus.tsx";

/** The prompt box under a transcript: Send (or Ctrl/⌘+Enter) and Cancel. */
export function PromptForm({ sessionId, canCancel }: { sessionId: string; canCancel: boolean }) {
  const [text, setText] = useState("");
  const send = useSendPrompt(sessionId);
  const cancel = useCancelSession(sessionId);
  const id = useId();

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const value = text.trim();
    if (!value || send.isPending) return;
    send.mutate(value, { onSuccess: () => setText("") });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit();
  };

  return (
    <form className="prompt-form" onSubmit={submit}>
      <label htmlFor={`${id}-prompt`}>Prompt</label>
      <textarea
        id={`${id}-prompt`}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        rows={3}
        placeholder="Ask the agent… (Ctrl+Enter sends)"
        aria-describedby={`${id}-status`}
      />
      <div className="button-row">
        <button type="submit" className="button-primary" disabled={!text.trim() || send.isPending}>
          {send.isPending ? "Sending…" : "Send"}
        </button>
        <button
          type="button"
          className="button-danger"
          disabled={!canCancel || cancel.isPending}
          onClick={() => cancel.mutate()}
        >
          Cancel
        </button>
        <span id={`${id}-status`} className="muted" role="status">
          {send.data && send.data.queued > 0
            ? `Queued behind ${send.data.queued} prompt${send.data.queued === 1 ? "" : "s"}.`
            : ""}
        </span>
      </div>
      {send.isError && <ErrorMessage error={send.error} />}
      {cancel.isError && <ErrorMessage error={cancel.error} />}
    </form>
  );
}
