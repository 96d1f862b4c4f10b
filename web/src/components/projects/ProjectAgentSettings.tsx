import { useState } from "react";
import { Link } from "react-router";

import { useAgents } from "../../api/queries.ts";
import type { Project } from "../../api/types.ts";
import { QueryStatus } from "../QueryStatus.tsx";
import { AgentSettingsForm } from "../settings/AgentSettingsForm.tsx";
import { SelectField } from "../form.tsx";

/** Pick an agent and edit its settings for this project only. */
export function ProjectAgentSettings({ project }: { project: Project }) {
  const agents = useAgents();
  const [chosen, setChosen] = useState("");
  const name = chosen || agents.data?.[0]?.name || "";
  const agent = agents.data?.find((a) => a.name === name);
  return (
    <section aria-labelledby="project-agents-heading" className="panel">
      <h2 id="project-agents-heading">Agent settings</h2>
      <p className="muted">
        Override <Link to="/settings#agents">your own agent settings</Link> for this project; what
        it leaves empty is inherited from them.
      </p>
      <QueryStatus query={agents} what="agents" />
      {agents.data && agents.data.length > 0 && (
        <div className="form form-grid">
          <SelectField label="Agent" value={name} onChange={setChosen}>
            {agents.data.map((a) => (
              <option key={a.name} value={a.name}>
                {a.title}
              </option>
            ))}
          </SelectField>
        </div>
      )}
      {agent && <AgentSettingsForm key={agent.name} agent={agent} project={project.id} />}
    </section>
  );
}
