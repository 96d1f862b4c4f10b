import { useId, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";

import { useCreateWorkspace, useNodes, useProjectWorkspaces } from "../../api/queries.ts";
import type { Project } from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";
import { Field, fieldError } from "../form.tsx";

const workspacePath = (id: string) => `/workspaces/${encodeURIComponent(id)}`;

function NewWorkspaceForm({ project }: { project: Project }) {
  const [branch, setBranch] = useState("");
  const [node, setNode] = useState("");
  const nodes = useNodes();
  const create = useCreateWorkspace();
  const navigate = useNavigate();
  const id = useId();
  const ready = nodes.data?.items.filter((n) => n.state === "ready") ?? [];

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (create.isPending) return;
    create.mutate(
      {
        project: project.id,
        ...(branch.trim() ? { branch: branch.trim() } : {}),
        ...(node ? { node } : {}),
      },
      { onSuccess: (workspace) => void navigate(workspacePath(workspace.id)) },
    );
  };

  const errors = {
    branch: fieldError(create.error, "body.branch"),
    node: fieldError(create.error, "body.node"),
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="visually-hidden">
        New workspace
      </h3>
      <div className="form-grid">
        <Field label="Branch" error={errors.branch} hint={`Empty: ${project.default_branch}.`}>
          {(props) => (
            <input
              {...props}
              type="text"
              value={branch}
              maxLength={255}
              spellCheck={false}
              autoComplete="off"
              placeholder={project.default_branch}
              onChange={(e) => setBranch(e.target.value)}
            />
          )}
        </Field>
        <Field label="Node" error={errors.node}>
          {(props) => (
            <select {...props} value={node} onChange={(e) => setNode(e.target.value)}>
              <option value="">The least busy ready node</option>
              {ready.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {create.isError && !errors.branch && !errors.node && <ErrorMessage error={create.error} />}
      <button type="submit" className="button-primary" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "New workspace"}
      </button>
    </form>
  );
}

/** The project's workspaces, each linking to its page, and New workspace. */
export function ProjectWorkspaces({ project }: { project: Project }) {
  const workspaces = useProjectWorkspaces(project.id);
  const nodes = useNodes();
  const nodeName = (id: string | null) =>
    id === null ? "—" : (nodes.data?.items.find((n) => n.id === id)?.name ?? id);
  return (
    <section aria-labelledby="project-workspaces-heading" className="panel">
      <h2 id="project-workspaces-heading">Workspaces</h2>
      <QueryStatus query={workspaces} what="workspaces" />
      {workspaces.data &&
        (workspaces.data.items.length === 0 ? (
          <p className="muted">No workspaces yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Branch</th>
                  <th scope="col">State</th>
                  <th scope="col" className="hide-narrow">
                    Node
                  </th>
                  <th scope="col" className="hide-narrow">
                    Created
                  </th>
                </tr>
              </thead>
              <tbody>
                {workspaces.data.items.map((ws) => (
                  <tr key={ws.id}>
                    <td>
                      <Link to={workspacePath(ws.id)}>{ws.name}</Link>
                    </td>
                    <td>
                      <code>{ws.branch}</code>
                    </td>
                    <td>
                      <StateBadge state={ws.state} />
                      {ws.state_reason && <div className="muted">{ws.state_reason}</div>}
                    </td>
                    <td className="hide-narrow">{nodeName(ws.node_id)}</td>
                    <td className="hide-narrow">
                      <Ago at={ws.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      <NewWorkspaceForm project={project} />
    </section>
  );
}
