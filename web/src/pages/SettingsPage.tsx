import { useMe } from "../api/queries.ts";
import { AgentsSection } from "../components/settings/AgentsSection.tsx";
import { CredentialsSection } from "../components/settings/CredentialsSection.tsx";
import { NodesSection } from "../components/settings/NodesSection.tsx";
import { TokensSection } from "../components/settings/TokensSection.tsx";
import { UsersSection } from "../components/settings/UsersSection.tsx";
import { useTitle } from "../hooks/useTitle.ts";

export function SettingsPage() {
  useTitle("Settings");
  const me = useMe(); // loaded before any page shows
  const isOwner = me.data?.role === "owner";
  return (
    <>
      <h1>Settings</h1>
      <nav aria-label="Settings sections" className="page-nav">
        <ul>
          <li>
            <a href="#credentials">Credentials</a>
          </li>
          <li>
            <a href="#agents">Agents</a>
          </li>
          <li>
            <a href="#nodes">Nodes</a>
          </li>
          <li>
            <a href="#tokens">API tokens</a>
          </li>
          {isOwner && (
            <li>
              <a href="#users">Users</a>
            </li>
          )}
        </ul>
      </nav>
      <div className="stack">
        <CredentialsSection />
        <AgentsSection />
        <NodesSection isOwner={isOwner} />
        <TokensSection />
        {isOwner && <UsersSection />}
      </div>
    </>
  );
}
