import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";

import {
  CONNECT_GITHUB_URL,
  postManifest,
  useCreateGitHubApp,
  useDisconnectGitHub,
  useForgetGitHubApp,
  useGitHub,
} from "../../api/github.ts";
import type { GitHubStatus, ManifestStart } from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { ConfirmButton, SubmitButton, TextField } from "../form.tsx";

/** The owner makes the App on GitHub from Corral's manifest (GitHub asks them to confirm). */
function CreateAppForm({ submit }: { submit: (start: ManifestStart) => void }) {
  const [organization, setOrganization] = useState("");
  const create = useCreateGitHubApp(submit);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (!create.isPending) create.mutate(organization.trim() || null);
  };
  return (
    <form className="form" onSubmit={onSubmit}>
      <p>
        Corral reaches private repositories and opens pull requests through a GitHub App of its own.
        GitHub makes it from Corral&apos;s settings once you confirm there.
      </p>
      <TextField
        label="Organization (optional)"
        hint="Make the App owned by this GitHub organization (you must own it); empty: your own account."
        value={organization}
        maxLength={100}
        spellCheck={false}
        autoComplete="off"
        onChange={setOrganization}
      />
      {create.isError && <ErrorMessage error={create.error} />}
      <div className="button-row">
        <SubmitButton pending={create.isPending} pendingLabel="Going to GitHub…">
          Create GitHub App
        </SubmitButton>
      </div>
    </form>
  );
}

function AppDetails({ status, isOwner }: { status: GitHubStatus; isOwner: boolean }) {
  const forget = useForgetGitHubApp();
  const app = status.app;
  if (!app) return null;
  return (
    <div>
      <p>
        The GitHub App is <a href={app.html_url}>{app.name}</a>.{" "}
        <a href={app.install_url}>Install on repositories</a> to let Corral clone them and open pull
        requests.
      </p>
      {isOwner && (
        <div className="button-row">
          <ConfirmButton
            question="Forget the GitHub App? It stays on GitHub, where you can delete it."
            confirmLabel="Forget"
            pending={forget.isPending}
            onConfirm={() => forget.mutate()}
          >
            Forget the App
          </ConfirmButton>
        </div>
      )}
      {forget.isError && <ErrorMessage error={forget.error} />}
    </div>
  );
}

function YourAccount({ status }: { status: GitHubStatus }) {
  const disconnect = useDisconnectGitHub();
  if (!status.oauth) return null;
  const account = status.account;
  return (
    <div>
      <h3>Your GitHub account</h3>
      {account ? (
        <p>
          Connected as <strong>{account.login}</strong>
          {account.name ? ` (${account.name})` : ""}: you can sign in with GitHub and pick its
          repositories for projects.{" "}
          <button type="button" disabled={disconnect.isPending} onClick={() => disconnect.mutate()}>
            Disconnect
          </button>
        </p>
      ) : (
        <p>
          Connect GitHub to sign in with it and to pick repositories for projects.{" "}
          <a href={CONNECT_GITHUB_URL}>Connect GitHub</a>
        </p>
      )}
      {disconnect.isError && <ErrorMessage error={disconnect.error} />}
    </div>
  );
}

/** GitHub: the App (made by the owner here), and your own linked GitHub account. */
export function GitHubSection({
  isOwner,
  submit = postManifest,
}: {
  isOwner: boolean;
  /** How the manifest goes to GitHub: a form post; tests replace it. */
  submit?: (start: ManifestStart) => void;
}) {
  const status = useGitHub();
  const [params] = useSearchParams();
  const created = params.get("github") === "created";
  return (
    <section aria-labelledby="github-heading" className="panel" id="github">
      <h2 id="github-heading">GitHub</h2>
      {!status.isSuccess ? (
        <QueryStatus query={status} what="GitHub" />
      ) : (
        <>
          {created && status.data.app && (
            <p role="status">The GitHub App is made: install it on your repositories next.</p>
          )}
          {status.data.app ? (
            <AppDetails status={status.data} isOwner={isOwner} />
          ) : isOwner ? (
            <CreateAppForm submit={submit} />
          ) : (
            <p className="muted">GitHub is not set up here yet: the owner does it in Settings.</p>
          )}
          <YourAccount status={status.data} />
        </>
      )}
    </section>
  );
}
