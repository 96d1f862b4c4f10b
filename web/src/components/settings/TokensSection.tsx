import { useId, useState, type FormEvent } from "react";

import { useCreateToken, useRevokeToken, useTokens } from "../../api/queries.ts";
import type { ApiToken } from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { Ago } from "../Time.tsx";
import { ConfirmButton, Field, SecretOnce, fieldError } from "../form.tsx";

function TokenRow({ token }: { token: ApiToken }) {
  const revoke = useRevokeToken();
  return (
    <tr className={token.revoked_at ? "muted" : undefined}>
      <td>{token.name}</td>
      <td>
        <code>…{token.last4}</code>
      </td>
      <td className="hide-narrow">
        <Ago at={token.created_at} />
      </td>
      <td className="hide-narrow">
        {token.last_used_at ? <Ago at={token.last_used_at} /> : "never"}
      </td>
      <td>
        {token.revoked_at ? (
          <>
            revoked <Ago at={token.revoked_at} />
          </>
        ) : (
          <ConfirmButton
            label={`Revoke ${token.name}`}
            question={`Revoke ${token.name}? Anything using it is signed out.`}
            confirmLabel="Revoke"
            pending={revoke.isPending}
            onConfirm={() => revoke.mutate(token.id)}
          >
            Revoke
          </ConfirmButton>
        )}
        {revoke.isError && <ErrorMessage error={revoke.error} />}
      </td>
    </tr>
  );
}

function CreateTokenForm() {
  const [name, setName] = useState("");
  const create = useCreateToken();
  const headingId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || create.isPending) return;
    create.mutate(name.trim(), { onSuccess: () => setName("") });
  };

  if (create.data) {
    return (
      <SecretOnce
        title={`Token ${create.data.name}`}
        value={create.data.token}
        onDone={() => create.reset()}
      >
        <p>
          Send it as <code>Authorization: Bearer …</code>, or give it to <code>corral login</code>.
        </p>
      </SecretOnce>
    );
  }

  const nameError = fieldError(create.error, "body.name");
  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId}>
      <h3 id={headingId}>Create a token</h3>
      <div className="form-grid">
        <Field label="Token name" error={nameError} hint="What it is for, e.g. ci or laptop.">
          {(props) => (
            <input
              {...props}
              type="text"
              value={name}
              required
              maxLength={100}
              autoComplete="off"
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
      </div>
      {create.isError && !nameError && <ErrorMessage error={create.error} />}
      <button type="submit" className="button-primary" disabled={!name.trim() || create.isPending}>
        {create.isPending ? "Creating…" : "Create token"}
      </button>
    </form>
  );
}

/** Your API tokens for the CLI and scripts: list, create (secret shown once), revoke. */
export function TokensSection() {
  const tokens = useTokens();
  return (
    <section aria-labelledby="tokens-heading" className="panel" id="tokens">
      <h2 id="tokens-heading">API tokens</h2>
      <QueryStatus query={tokens} what="tokens" />
      {tokens.data &&
        (tokens.data.length === 0 ? (
          <p className="muted">No tokens yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Ends with</th>
                  <th scope="col" className="hide-narrow">
                    Created
                  </th>
                  <th scope="col" className="hide-narrow">
                    Last used
                  </th>
                  <th scope="col">
                    <span className="visually-hidden">State</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.data.map((t) => (
                  <TokenRow key={t.id} token={t} />
                ))}
              </tbody>
            </table>
          </div>
        ))}
      {tokens.hasNextPage && (
        <p>
          <button
            type="button"
            onClick={() => void tokens.fetchNextPage()}
            disabled={tokens.isFetchingNextPage}
          >
            {tokens.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
      {tokens.isFetchNextPageError && <ErrorMessage error={tokens.error} />}
      <CreateTokenForm />
    </section>
  );
}
