// API objects the component tests share; a test spreads one to change what it needs.

import type { PullRequest } from "../api/pullRequests.ts";
import type {
  Agent,
  GitHubRepository,
  GitHubStatus,
  Node,
  Project,
  Session,
  Workspace,
} from "../api/types.ts";
import { NOW } from "./api.tsx";

export const demoProject: Project = {
  id: "prj_1",
  name: "demo",
  repo: "https://github.com/acme/demo.git",
  default_branch: "main",
  env: {},
  runtime: "auto",
  cpus: null,
  memory_bytes: null,
  pids: null,
  idle_timeout_minutes: null,
  github_repo: null,
  git_access: "anonymous",
  ssh_known_hosts: null,
  created_at: NOW,
  updated_at: NOW,
};

/** `demoProject` on GitHub as acme/demo, reached through the GitHub App. */
export const githubProject: Project = {
  ...demoProject,
  github_repo: "acme/demo",
  git_access: "github_app",
};

/** The open pull request #7 of session `ses_1` on acme/demo, with `changes` over it. */
export function pullRequest(changes: Partial<PullRequest> = {}): PullRequest {
  return {
    id: "pr_1",
    session_id: "ses_1",
    project_id: "prj_1",
    repo: "acme/demo",
    number: 7,
    url: "https://github.com/acme/demo/pull/7",
    branch: "corral/fix-the-login-bug-ses_1",
    base: "main",
    title: "Fix the login bug",
    state: "open",
    checks: null,
    failed_check: null,
    review_requested: null,
    commit: "0123456789abcdef0123456789abcdef01234567",
    created_at: NOW,
    updated_at: NOW,
    ...changes,
  };
}

/** A running workspace of `demoProject` on the host runtime, with `changes` over it. */
export function workspace(changes: Partial<Workspace> = {}): Workspace {
  return {
    id: "wsp_1",
    name: "demo-1",
    project_id: "prj_1",
    node_id: "nod_1",
    branch: "main",
    runtime: "host",
    limits: { cpus: null, memory_bytes: null, pids: null },
    state: "running",
    state_reason: null,
    state_changed_at: NOW,
    created_at: NOW,
    idle_timeout_minutes: null,
    idle_timeout_source: "project",
    idle_stop_at: null,
    idle_hold: null,
    last_active_at: NOW,
    ...changes,
  };
}

/** A session of `demoProject`, stopped, with `changes` over it. */
export function session(changes: Partial<Session> = {}): Session {
  return {
    id: "ses_1",
    workspace_id: "wsp_1",
    project_id: "prj_1",
    agent: "claude",
    title: "",
    policy: "ask",
    state: "stopped",
    state_reason: null,
    state_changed_at: NOW,
    acp_session_id: null,
    model: null,
    mode: null,
    last_seq: 3,
    last_message: null,
    context_usage: null,
    turn_usage: null,
    agent_info: null,
    created_at: NOW,
    updated_at: NOW,
    ...changes,
  };
}

/** A ready, linked node, with `changes` over it. */
export function readyNode(changes: Partial<Node> = {}): Node {
  return {
    id: "nod_1",
    name: "box-1",
    provider: "manual",
    state: "ready",
    state_reason: null,
    state_changed_at: NOW,
    version: "0.4.0",
    last_seen_at: NOW,
    capacity: { cpus: 8 },
    usage: { load1: 1.5 },
    runtimes: [],
    connected: true,
    created_at: NOW,
    user_id: "usr_owner",
    machine_type: null,
    region: null,
    options: {},
    machine: "none",
    hourly_price: null,
    currency: null,
    cost_this_month: null,
    last_error: null,
    bootstrap_log: [],
    host_key_fingerprint: null,
    ...changes,
  };
}

/** A node Hetzner is making (a cx23 in fsn1), two steps in, with `changes` over it. */
export function cloudNode(changes: Partial<Node> = {}): Node {
  return readyNode({
    id: "nod_cloud",
    name: "cloud-1",
    provider: "hetzner",
    state: "provisioning",
    state_reason: "installing Docker",
    version: null,
    last_seen_at: null,
    capacity: {},
    usage: {},
    connected: false,
    machine_type: "cx23",
    region: "fsn1",
    options: { allow_ssh: false },
    machine: "made",
    hourly_price: 0.0074,
    currency: "EUR",
    cost_this_month: 0.01,
    bootstrap_log: [
      { at: "2025-01-01T00:00:05Z", step: "creating the server" },
      { at: "2025-01-01T00:00:40Z", step: "installing Docker" },
    ],
    ...changes,
  });
}

/** A built-in agent from npm, with `changes` over it: the fields the agent catalog answers. */
export function agent(changes: Partial<Agent> & Pick<Agent, "name" | "title">): Agent {
  return {
    builtin: true,
    package: null,
    version: null,
    command: [],
    credentials: {},
    credential_kinds: [],
    endpoint: false,
    endpoint_env: [],
    endpoint_args: [],
    default_endpoint: null,
    initial_mode: null,
    auth_method: null,
    sandboxed_args: [],
    quirks: [],
    ...changes,
  };
}

/** `GET /github` with `changes` over it: by default set up (its App), and you not connected. */
export function githubStatus(changes: Partial<GitHubStatus> = {}): GitHubStatus {
  return {
    configured: true,
    app: {
      slug: "corral-example",
      name: "Corral example",
      html_url: "https://github.com/apps/corral-example",
      install_url: "https://github.com/apps/corral-example/installations/new",
    },
    oauth: true,
    web_url: "https://github.com",
    account: null,
    ...changes,
  };
}

/** GitHub not set up: no App, no OAuth app in settings. */
export const githubNotSetUp: GitHubStatus = githubStatus({
  configured: false,
  app: null,
  oauth: false,
});

export const widgetsRepo: GitHubRepository = {
  full_name: "acme/widgets",
  private: true,
  default_branch: "trunk",
  clone_url: "https://github.com/acme/widgets.git",
  installation_id: 7,
};
