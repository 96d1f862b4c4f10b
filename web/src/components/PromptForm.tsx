import { useId, useState, type FormEvent, type KeyboardEvent } from "react";

import { useCancelSession, useSendPrompt } from "../api/queries.ts";
import { usePromptHistory } from "../hooks/usePromptHistory.ts";
import { ErrorMessage } from "./QueryStatus.tsx";

interface SentPrompt {
  id: string;
  text: string;
}

/**
 * The prompt box under a transcript: Send (or Ctrl/⌘+Enter), Cancel, ↑/↓ for earlier prompts,
 * and the prompts sent while a turn ran, listed until their own turn begins.
 */
export function PromptForm({
  sessionId,
  canCancel,
  startedPrompts,
}: {
  sessionId: string;
  canCancel: boolean;
  /** Prompt ids whose turn has begun. */
  startedPrompts: ReadonlySet<string>;
}) {
  const [text, setText] = useState("");
  const [sent, setSent] = useState<SentPrompt[]>([]);
  const send = useSendPrompt(sessionId);
  const cancel = useCancelSession(sessionId);
  const history = usePromptHistory();
  const id = useId();
  const queued = sent.filter((p) => !startedPrompts.has(p.id));

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const value = text.trim();
    if (!value || send.isPending) return;
    send.mutate(value, {
      onSuccess: (accepted) => {
        setText("");
        history.add(value);
        if (accepted.queued > 0) {
          setSent((list) => [
            ...list.filter((p) => !startedPrompts.has(p.id)),
            { id: accepted.prompt_id, text: value },
          ]);
        }
      },
    });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    // ↑ on the first line and ↓ on the last walk the history, as in a shell.
    const element = event.currentTarget;
    const before = element.value.slice(0, element.selectionStart);
    const after = element.value.slice(element.selectionEnd);
    if (event.key === "ArrowUp" && !before.includes("\n")) {
      const earlier = history.older(text);
      if (earlier !== null) {
        event.preventDefault();
        setText(earlier);
      }
    } else if (event.key === "ArrowDown" && !after.includes("\n")) {
      const later = history.newer();
      if (later !== null) {
        event.preventDefault();
        setText(later);
      }
    }
  };

  return (
    <form className="prompt-form" onSubmit={submit}>
      {queued.length > 0 && (
        <section aria-label="Queued prompts" className="queued-prompts">
          <p className="muted">Queued: each runs when the turn before it ends.</p>
          <ol>
            {queued.map((p) => (
              <li key={p.id}>{p.text.length > 200 ? `${p.text.slice(0, 200)}…` : p.text}</li>
            ))}
          </ol>
        </section>
      )}
      <label htmlFor={`${id}-prompt`}>Prompt</label>
      <textarea
        id={`${id}-prompt`}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          history.reset();
        }}
        onKeyDown={onKeyDown}
        rows={3}
        placeholder="Ask the agent… (Ctrl+Enter sends, ↑ recalls earlier prompts)"
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
          {queued.length > 0
            ? `${queued.length} prompt${queued.length === 1 ? "" : "s"} queued.`
            : ""}
        </span>
      </div>
      {send.isError && <ErrorMessage error={send.error} />}
      {cancel.isError && <ErrorMessage error={cancel.error} />}
    </form>
  );
}
