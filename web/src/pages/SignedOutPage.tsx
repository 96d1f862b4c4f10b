/** Shown when `/api/v1/me` answers 401. */
export function SignedOutPage() {
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
    </main>
  );
}
