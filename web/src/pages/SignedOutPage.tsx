import { SIGN_IN_WITH_GITHUB_URL, useGitHubSignInAvailable } from "../api/github.ts";

/** Shown when `/api/v1/me` answers 401; `disabled` when it said the account is disabled. */
export function SignedOutPage({ disabled = false }: { disabled?: boolean }) {
  if (disabled) {
    return (
      <main id="main" className="signed-out">
        <h1>Corral</h1>
        <p>
          <strong>Signed out:</strong> your account has been disabled.
        </p>
        <p className="muted">Ask the owner of this Corral to enable it again.</p>
      </main>
    );
  }
  return (
    <main id="main" className="signed-out">
      <h1>Corral</h1>
      <p>
        <strong>Signed out:</strong> open a login link from <code>corral auth link</code>.
      </p>
      <p className="muted">
        Run <code>corral auth link</code> on the machine running Corral and open the link it prints
        in this browser.
      </p>
      <SignInWithGitHub />
    </main>
  );
}

/** Offered when this Corral has GitHub sign-in (its App, or an OAuth app in settings). */
function SignInWithGitHub() {
  const available = useGitHubSignInAvailable();
  if (available.data !== true) return null;
  const next = window.location.pathname + window.location.search;
  return (
    <p>
      <a href={`${SIGN_IN_WITH_GITHUB_URL}?next=${encodeURIComponent(next)}`}>
        Sign in with GitHub
      </a>
    </p>
  );
}
