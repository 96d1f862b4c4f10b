import { useMe } from "../api/queries.ts";
import { useScrollToHash } from "../hooks/useScrollToHash.ts";
import { AgentsSection } from "../components/settings/AgentsSection.tsx";
import { CredentialsSection } from "../components/settings/CredentialsSection.tsx";
import { GitHubSection } from "../components/settings/GitHubSection.tsx";
import { NodesSection } from "../components/settings/NodesSection.tsx";
import { TokensSection } from "../components/settings/TokensSection.tsx";
import { UsersSection } from "../components/settings/UsersSection.tsx";
import { useTitle } from "../hooks/useTitle.ts";

/** The page's sections, in order, for its table of contents. */
const SECTIONS = [
  { id: "credentials", name: "Credentials" },
  { id: "agents", name: "Agents" },
  { id: "github", name: "GitHub" },
  { id: "nodes", name: "Nodes" },
  { id: "tokens", name: "API tokens" },
  { id: "users", name: "Users", ownerOnly: true },
];

export function SettingsPage() {
  useTitle("Settings");
  useScrollToHash();
  const me = useMe(); // loaded before any page shows
  const isOwner = me.data?.role === "owner";
  return (
    <>
      <h1>Settings</h1>
      <nav aria-label="Settings sections" className="page-nav">
        <ul>
          {SECTIONS.filter((s) => isOwner || !s.ownerOnly).map((s) => (
            <li key={s.id}>
              <a href={`#${s.id}`}>{s.name}</a>
            </li>
          ))}
        </ul>
      </nav>
      <div className="stack">
        <CredentialsSection />
        <AgentsSection />
        <GitHubSection isOwner={isOwner} />
        <NodesSection isOwner={isOwner} userId={me.data?.id} />
        <TokensSection />
        {isOwner && <UsersSection />}
      </div>
    </>
  );
}
