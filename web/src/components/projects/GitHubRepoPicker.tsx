import { useGitHub, useGitHubRepositories } from "../../api/github.ts";
import type { GitHubRepository } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { SelectField } from "../form.tsx";

/**
 * A repository of the GitHub App's installations your GitHub account may use, for the add-project
 * form; nothing when GitHub is not set up or your account is not connected (the URL field does).
 */
export function GitHubRepoPicker({
  value,
  onPick,
  disabled = false,
}: {
  /** The picked repository's clone URL, or "" for none. */
  value: string;
  onPick: (repo: GitHubRepository | null) => void;
  disabled?: boolean;
}) {
  const status = useGitHub();
  const ready = status.data?.configured === true && status.data.account != null;
  const repos = useGitHubRepositories(ready);
  if (!ready) return null;
  if (repos.isError) return <ErrorMessage error={repos.error} />;
  const items = repos.data?.items ?? [];
  const known = items.some((r) => r.clone_url === value);
  return (
    <SelectField
      label="GitHub repository"
      hint={
        repos.isPending
          ? "Asking GitHub…"
          : items.length === 0
            ? "The GitHub App is installed on none of your repositories yet (Settings, GitHub)."
            : "Fills in the URL and branch; or type any URL below."
      }
      value={known ? value : ""}
      onChange={(url) => onPick(items.find((r) => r.clone_url === url) ?? null)}
    >
      <option value="">{disabled ? "—" : "Pick a repository…"}</option>
      {items.map((r) => (
        <option key={r.clone_url} value={r.clone_url}>
          {r.full_name}
          {r.private ? " (private)" : ""}
        </option>
      ))}
    </SelectField>
  );
}
