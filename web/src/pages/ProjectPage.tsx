import { Link, useNavigate, useParams } from "react-router";

import { useDeleteProject, useProject } from "../api/queries.ts";
import type { Project } from "../api/types.ts";
import { GitHubRepo } from "../components/projects/GitAccess.tsx";
import { ProjectAgentSettings } from "../components/projects/ProjectAgentSettings.tsx";
import { ProjectIdleForm } from "../components/projects/ProjectIdleForm.tsx";
import { ProjectPullRequests } from "../components/projects/ProjectPullRequests.tsx";
import { ProjectSessions } from "../components/projects/ProjectSessions.tsx";
import { ProjectSettingsForm } from "../components/projects/ProjectSettingsForm.tsx";
import { ProjectWorkspaces } from "../components/projects/ProjectWorkspaces.tsx";
import { ErrorMessage, QueryStatus } from "../components/QueryStatus.tsx";
import { ConfirmButton } from "../components/form.tsx";
import { Ago } from "../components/Time.tsx";
import { useTitle } from "../hooks/useTitle.ts";

function DeleteProject({ project }: { project: Project }) {
  const remove = useDeleteProject();
  const navigate = useNavigate();
  return (
    <section aria-labelledby="delete-project-heading" className="panel panel-danger">
      <h2 id="delete-project-heading">Delete project</h2>
      <p className="muted">
        Its workspaces and chat history stay, no longer tied to a project. This cannot be undone.
      </p>
      <ConfirmButton
        label={`Delete ${project.name}`}
        question={`Delete the project ${project.name}?`}
        confirmLabel="Delete project"
        pending={remove.isPending}
        onConfirm={() => remove.mutate(project.id, { onSuccess: () => void navigate("/projects") })}
      >
        Delete project
      </ConfirmButton>
      {remove.isError && <ErrorMessage error={remove.error} />}
    </section>
  );
}

export function ProjectPage() {
  const { ref = "" } = useParams();
  const project = useProject(ref);
  const navigate = useNavigate();
  useTitle(project.data?.name ?? ref);

  return (
    <>
      <p className="breadcrumb">
        <Link to="/projects">Projects</Link> /
      </p>
      <h1>{project.data?.name ?? ref}</h1>
      <QueryStatus query={project} what="the project" />
      {project.data && (
        <>
          <dl className="facts">
            <div>
              <dt>Repository</dt>
              <dd>
                <code className="break">{project.data.repo}</code>
              </dd>
            </div>
            <div>
              <dt>{project.data.github_repo ? "GitHub" : "Access"}</dt>
              <dd>
                <GitHubRepo project={project.data} />
              </dd>
            </div>
            <div>
              <dt>Default branch</dt>
              <dd>
                <code>{project.data.default_branch}</code>
              </dd>
            </div>
            <div>
              <dt>Added</dt>
              <dd>
                <Ago at={project.data.created_at} />
              </dd>
            </div>
          </dl>
          <div className="stack">
            <ProjectWorkspaces project={project.data} />
            <ProjectSessions project={project.data} />
            <ProjectPullRequests project={project.data} />
            <ProjectSettingsForm
              key={project.data.id}
              project={project.data}
              projectRef={ref}
              onRenamed={(name) =>
                void navigate(`/projects/${encodeURIComponent(name)}`, { replace: true })
              }
            />
            <ProjectIdleForm key={project.data.id} project={project.data} projectRef={ref} />
            <ProjectAgentSettings project={project.data} />
            <DeleteProject project={project.data} />
          </div>
        </>
      )}
      {project.isError && (
        <p>
          <Link to="/projects">Back to projects</Link>
        </p>
      )}
    </>
  );
}
