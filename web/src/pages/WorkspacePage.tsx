import { lazy, Suspense, useMemo, useState } from "react";
import { Link, useParams } from "react-router";

import {
  useCreateTerminal,
  useDeleteTerminal,
  useProject,
  useTerminals,
  useWorkspace,
  useWorkspaceSessions,
} from "../api/queries.ts";
import { ACTIVE_SESSION_STATES, type Session, type TerminalInfo } from "../api/types.ts";
import { ErrorMessage, QueryStatus } from "../components/QueryStatus.tsx";
import { SessionView } from "../components/SessionView.tsx";
import { IdleCountdown } from "../components/workspace/IdleCountdown.tsx";
import { NewChatForm } from "../components/workspace/NewChatForm.tsx";
import { ProvisioningLog } from "../components/workspace/ProvisioningLog.tsx";
import { WorkspaceActions } from "../components/workspace/WorkspaceActions.tsx";
import { ConfirmButton } from "../components/form.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Elapsed } from "../components/Time.tsx";
import { useTitle } from "../hooks/useTitle.ts";
import { describeLimits } from "../lib/sizes.ts";
import { useWorkspaceTabs, type TabRef } from "../hooks/useWorkspaceTabs.ts";

// xterm.js is most of this page's code: load it with the first terminal, not with the app.
const TerminalView = lazy(() => import("../components/TerminalView.tsx"));

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
  const project = useProject(w?.project_id ?? null);
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
          {w.project_id ? (
            <Link to={`/projects/${w.project_id}`}>{project.data?.name ?? "project"}</Link>
          ) : (
            "workspace"
          )}
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
            <dd>{w.runtime === "auto" ? "auto (chosen when placed)" : w.runtime}</dd>
          </div>
          <div>
            <dt>Limits</dt>
            <dd>
              {describeLimits(
                w.limits,
                w.state === "pending" ? "the node's defaults" : "none (not enforced)",
              )}
            </dd>
          </div>
          <div>
            <dt>State</dt>
            <dd>
              {w.state} for <Elapsed since={w.state_changed_at} />
              {w.state_reason && <span className="muted"> ({w.state_reason})</span>}
            </dd>
          </div>
          {running && (
            <div>
              <dt>When idle</dt>
              <dd>
                <IdleCountdown workspace={w} />
              </dd>
            </div>
          )}
        </dl>
        {w.state === "pending" && (
          <p className="pending-reason" role="status">
            Waiting for a node{w.state_reason ? `: ${w.state_reason}` : "."}
          </p>
        )}
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
          The workspace is {w.state}:{" "}
          {w.state === "stopped" || w.state === "error"
            ? "start it to open terminals and chats."
            : "terminals and chats open once it is running."}{" "}
          Past chats stay readable.
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
