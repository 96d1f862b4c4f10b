import { useCredentials } from "../api/queries.ts";
import { ErrorMessage, QueryStatus } from "../components/QueryStatus.tsx";
import { Ago } from "../components/Time.tsx";
import { useTitle } from "../hooks/useTitle.ts";

export function SettingsPage() {
  useTitle("Settings");
  const credentials = useCredentials();
  return (
    <>
      <h1>Settings</h1>
      <section aria-labelledby="credentials-heading">
        <h2 id="credentials-heading">Credentials</h2>
        <p className="muted">
          Values never leave the control plane; set them with{" "}
          <code>corral credentials set KIND</code>.
        </p>
        <QueryStatus query={credentials} what="credentials" />
        {credentials.data &&
          (credentials.data.length === 0 ? (
            <p className="muted">No credentials yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Ends with</th>
                  <th scope="col">Last used</th>
                </tr>
              </thead>
              <tbody>
                {credentials.data.map((c) => (
                  <tr key={c.id}>
                    <td>{c.name}</td>
                    <td>{c.kind}</td>
                    <td>
                      <code>…{c.last4}</code>
                    </td>
                    <td>{c.last_used_at ? <Ago at={c.last_used_at} /> : "never"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
        {credentials.hasNextPage && (
          <p>
            <button
              type="button"
              onClick={() => void credentials.fetchNextPage()}
              disabled={credentials.isFetchingNextPage}
            >
              {credentials.isFetchingNextPage ? "Loading…" : "Load more"}
            </button>
          </p>
        )}
        {credentials.isFetchNextPageError && <ErrorMessage error={credentials.error} />}
      </section>
    </>
  );
}
