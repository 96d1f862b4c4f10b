import { lazy, Suspense, useId, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";

import {
  useAgents,
  useCreateTerminal,
  useDeleteTerminal,
  useStartSession,
  useTerminals,
  useWorkspace,
  useWorkspaceAction,
  useWorkspaceLog,
  useWorkspaceSessions,
} from "../api/queries.ts";
import {
  ACTIVE_SESSION_STATES,
  POLICIES,
  type Policy,
  type Session,
  type TerminalInfo,
  type Workspace,
} from "../api/types.ts";
import { ErrorMessage, QueryStatus } from "../components/QueryStatus.tsx";
import { SessionView } from "../components/SessionView.tsx";
import { ConfirmButton } from "../components/form.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Elapsed } from "../components/Time.tsx";
import { useTitle } from "../hooks/useTitle.ts";
import { useWorkspaceTabs, type TabRef } from "../hooks/useWorkspaceTabs.ts";

// xterm.js is most of this page's code: load it with the first terminal, not with the app.
const TerminalView = lazy(() => import("../components/TerminalView.tsx"));

/** States in which the node is still working on the workspace: the log is followed. */
const PROVISIONING = new Set(["pending", "creating", "starting"]);

function WorkspaceActions({ workspace }: { workspace: Workspace }) {
  const action = useWorkspaceAction(workspace.id);
  const navigate = useNavigate();
  const busy = action.isPending;
  const canStop = workspace.state === "running";
  const canStart = workspace.state === "stopped" || workspace.state === "error";
  return (
    <div className="workspace-actions">
      <div className="button-row">
        {canStart && (
          <button
            type="button"
            className="button-primary"
            disabled={busy}
            onClick={() => action.mutate("start")}
          >
            {busy && action.variables === "start" ? "Starting…" : "Start"}
          </button>
        )}
        {canStop && (
          <ConfirmButton
            question="Stop the workspace? Its terminals and agents end; files and chats stay."
            confirmLabel="Stop workspace"
            pending={busy}
            onConfirm={() => action.mutate("stop")}
          >
            Stop
          </ConfirmButton>
        )}
        <ConfirmButton
          question={`Delete ${workspace.name} and its checkout? Chats stay in the project.`}
          confirmLabel="Delete workspace"
          label={`Delete ${workspace.name}`}
          pending={busy}
          onConfirm={() =>
            action.mutate("delete", {
              onSuccess: () =>
                void navigate(workspace.project_id ? `/projects/${workspace.project_id}` : "/"),
            })
          }
        >
          Delete
        </ConfirmButton>
      </div>
      {action.isError && <ErrorMessage error={action.error} />}
    </div>
  );
}

function ProvisioningLog({ workspace }: { workspace: Workspace }) {
  const following = PROVISIONING.has(workspace.state);
  const log = useWorkspaceLog(workspace.id, following);
  const lines = log.data?.lines ?? [];
  if (!following && lines.length === 0) return null;
  return (
    <details className="provisioning-log" open={following || workspace.state === "error"}>
      <summary>Provisioning log{following && <span className="muted"> (following)</span>}</summary>
      <pre aria-live="polite" data-testid="provisioning-log" tabIndex={0}>
        {lines.length > 0 ? lines.join("\n") : "Waiting for the node…"}
      </pre>
    </details>
  );
}

function NewChatForm({
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
  const id = useId();
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
      <div className="field">
        <label htmlFor={`${id}-agent`}>Agent</label>
        <select id={`${id}-agent`} value={chosen} onChange={(e) => setAgent(e.target.value)}>
          {(agents.data ?? []).map((a) => (
            <option key={a.name} value={a.name}>
              {a.title || a.name}
              {a.builtin ? "" : " (custom)"}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-policy`}>Permissions</label>
        <select
          id={`${id}-policy`}
          value={policy}
          onChange={(e) => setPolicy(e.target.value as Policy)}
          aria-describedby={`${id}-policy-hint`}
        >
          {POLICIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <p id={`${id}-policy-hint`} className="muted field-hint">
          What the agent may do without asking: nothing, reads, reads and edits, or everything.
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${id}-title`}>Title (optional)</label>
        <input
          id={`${id}-title`}
          value={title}
          maxLength={200}
          onChange={(e) => setTitle(e.target.value)}
          placeholder="Named after the first prompt when empty"
        />
      </div>
      <QueryStatus query={agents} what="agents" />
      {start.isError && <ErrorMessage error={start.error} />}
      <div className="button-row">
        <button type="submit" className="button-primary" disabled={!chosen || start.isPending}>
          {start.isPending ? "Starting…" : "Start chat"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Where a key moves the selection in a tab list of `last + 1` tabs (WAI-ARIA tabs pattern). */
function tabKeyTarget(key: string, index: number, last: number): number | null {
  switch (key) {
    case "ArrowRight":
      return index >= last ? 0 : index + 1;
    case "ArrowLeft":
      return index <= 0 ? last : index - 1;
    case "Home":
      return 0;
    case "End":
      return last;
    default:
      return null;
  }
}

function tabLabel(tab: TabRef, terminals: readonly TerminalInfo[], chats: readonly Session[]) {
  const [kind, id] = tab.split(/:(.*)/s) as [string, string];
  if (kind === "terminal") {
    const index = terminals.findIndex((t) => t.id === id);
    const terminal = terminals[index];
    return `Terminal ${index + 1}${terminal?.exited ? " (ended)" : ""}`;
  }
  const chat = chats.find((s) => s.id === id);
  return chat ? chat.title || chat.agent : "Chat";
}

export function WorkspacePage() {
  const { id = "" } = useParams();
  const workspace = useWorkspace(id);
  const w = workspace.data;
  const running = w?.state === "running";
  const terminals = useTerminals(id, running);
  const sessions = useWorkspaceSessions(id);
  const createTerminal = useCreateTerminal(id);
  const deleteTerminal = useDeleteTerminal(id);
  const [newChat, setNewChat] = useState(false);
  useTitle(w ? `${w.name} (${w.state})` : "Workspace");

  const terminalList = useMemo(
    () => (running ? (terminals.data ?? []) : []),
    [running, terminals.data],
  );
  const chatList = useMemo(() => sessions.data?.items ?? [], [sessions.data]);
  const loaded = workspace.data !== undefined && sessions.data !== undefined;
  const terminalsKnown = !running || terminals.data !== undefined;
  const existing = useMemo<TabRef[] | null>(
    () =>
      loaded && terminalsKnown
        ? [
            ...terminalList.map((t) => `terminal:${t.id}` as const),
            ...chatList.map((s) => `chat:${s.id}` as const),
          ]
        : null,
    [loaded, terminalsKnown, terminalList, chatList],
  );
  const initial = useMemo<TabRef[]>(
    () => [
      ...terminalList.filter((t) => !t.exited).map((t) => `terminal:${t.id}` as const),
      ...chatList
        .filter((s) => ACTIVE_SESSION_STATES.includes(s.state))
        .map((s) => `chat:${s.id}` as const),
    ],
    [terminalList, chatList],
  );
  const tabs = useWorkspaceTabs(id, existing, initial);
  const [shown, setShown] = useState<ReadonlySet<TabRef>>(() => new Set());
  if (tabs.active !== null && !shown.has(tabs.active)) setShown(new Set([...shown, tabs.active]));

  const openTerminal = () =>
    createTerminal.mutate(
      { cols: 100, rows: 30 },
      { onSuccess: (terminal) => tabs.show(`terminal:${terminal.id}`) },
    );

  if (w === undefined) {
    return (
      <div className="workspace-page">
        <p className="breadcrumb">
          <Link to="/">Dashboard</Link> / workspace
        </p>
        <QueryStatus query={workspace} what="the workspace" />
      </div>
    );
  }

  const hiddenTabs = existing?.filter((t) => !tabs.open.includes(t)) ?? [];
  return (
    <div className="workspace-page">
      <header className="workspace-header">
        <p className="breadcrumb">
          <Link to="/">Dashboard</Link> /{" "}
          {w.project_id ? <Link to={`/projects/${w.project_id}`}>project</Link> : "workspace"}
        </p>
        <h1>
          {w.name} <StateBadge state={w.state} />
        </h1>
        <dl className="facts">
          <div>
            <dt>Branch</dt>
            <dd>{w.branch}</dd>
          </div>
          <div>
            <dt>Runtime</dt>
            <dd>{w.runtime}</dd>
          </div>
          <div>
            <dt>State</dt>
            <dd>
              {w.state} for <Elapsed since={w.state_changed_at} />
              {w.state_reason && <span className="muted"> ({w.state_reason})</span>}
            </dd>
          </div>
        </dl>
        <WorkspaceActions workspace={w} />
        <QueryStatus query={workspace} what="the workspace" />
      </header>

      <ProvisioningLog workspace={w} />

      <div className="tab-bar">
        <div
          role="tablist"
          aria-label="Terminals and chats"
          className="tabs"
          onKeyDown={(event) => {
            const index = tabs.active === null ? -1 : tabs.open.indexOf(tabs.active);
            const last = tabs.open.length - 1;
            const target = tabKeyTarget(event.key, index, last);
            const tab = target === null ? undefined : tabs.open[target];
            if (tab === undefined) return;
            event.preventDefault();
            tabs.show(tab);
            document.getElementById(`tab-${tab}`)?.focus();
          }}
        >
          {tabs.open.map((tab) => (
            <span key={tab} className={`tab${tab === tabs.active ? " tab-active" : ""}`}>
              <button
                type="button"
                role="tab"
                id={`tab-${tab}`}
                aria-selected={tab === tabs.active}
                aria-controls={`panel-${tab}`}
                tabIndex={tab === tabs.active ? 0 : -1}
                onClick={() => tabs.show(tab)}
              >
                {tabLabel(tab, terminalList, chatList)}
              </button>
              <button
                type="button"
                className="tab-close"
                aria-label={`Close tab ${tabLabel(tab, terminalList, chatList)}`}
                onClick={() => tabs.close(tab)}
              >
                ×
              </button>
            </span>
          ))}
        </div>
        <div className="button-row">
          <button
            type="button"
            onClick={openTerminal}
            disabled={!running || createTerminal.isPending}
            title={running ? undefined : "Start the workspace to open a terminal"}
          >
            New terminal
          </button>
          <button type="button" onClick={() => setNewChat(true)} disabled={!running || newChat}>
            New chat
          </button>
        </div>
      </div>
      {!running && (
        <p className="muted">
          The workspace is {w.state}: start it to open terminals and chats. Past chats stay
          readable.
        </p>
      )}
      {createTerminal.isError && <ErrorMessage error={createTerminal.error} />}
      {terminals.isError && running && <ErrorMessage error={terminals.error} />}
      {newChat && (
        <NewChatForm
          workspaceId={w.id}
          onCancel={() => setNewChat(false)}
          onStarted={(session) => {
            setNewChat(false);
            tabs.show(`chat:${session.id}`);
          }}
        />
      )}

      {tabs.open.map((tab) => {
        const [kind, tabId] = tab.split(/:(.*)/s) as [string, string];
        const active = tab === tabs.active;
        // A tab's content mounts when first shown, then stays (its connection and scrollback
        // survive switching): restored tabs cost nothing until opened.
        if (!active && !shown.has(tab)) return null;
        return (
          <section
            key={tab}
            role="tabpanel"
            id={`panel-${tab}`}
            aria-labelledby={`tab-${tab}`}
            hidden={!active}
            className="tab-panel"
          >
            {kind === "terminal" ? (
              <>
                <div className="button-row panel-toolbar">
                  <ConfirmButton
                    question="End this terminal and what runs in it?"
                    confirmLabel="End terminal"
                    pending={deleteTerminal.isPending}
                    onConfirm={() => deleteTerminal.mutate(tabId)}
                  >
                    End terminal
                  </ConfirmButton>
                </div>
                <Suspense fallback={<p className="muted">Loading the terminal…</p>}>
                  <TerminalView workspaceId={w.id} terminalId={tabId} active={active} />
                </Suspense>
              </>
            ) : (
              <SessionView sessionId={tabId} embedded />
            )}
          </section>
        );
      })}
      {tabs.open.length === 0 && running && (
        <p className="muted">Open a terminal or start a chat with an agent.</p>
      )}

      {hiddenTabs.length > 0 && (
        <section aria-label="Closed tabs" className="closed-tabs">
          <h2>Terminals and chats</h2>
          <ul className="plain-list">
            {hiddenTabs.map((tab) => {
              const chat = tab.startsWith("chat:")
                ? chatList.find((s) => `chat:${s.id}` === tab)
                : undefined;
              return (
                <li key={tab}>
                  <button type="button" className="link-button" onClick={() => tabs.show(tab)}>
                    {tabLabel(tab, terminalList, chatList)}
                  </button>
                  {chat && (
                    <>
                      {" "}
                      <StateBadge state={chat.state} />{" "}
                      <span className="muted">
                        started <Elapsed since={chat.created_at} /> ago
                      </span>
                    </>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
      )}
    </div>
  );
}
