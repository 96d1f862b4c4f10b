import { useCreateToken, useRevokeToken, useTokens } from "../../api/queries.ts";
import type { ApiToken } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { Ago } from "../Time.tsx";
import { ConfirmButton, NameForm, SecretOnce } from "../form.tsx";

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
  const create = useCreateToken();
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
  return (
    <NameForm
      title="Create a token"
      mutation={create}
      label="Token name"
      hint="What it is for, e.g. ci or laptop."
      maxLength={100}
      submit="Create token"
      pendingLabel="Creating…"
    />
  );
}

/** Your API tokens for the CLI and scripts: list, create (secret shown once), revoke. */
export function TokensSection() {
  const tokens = useTokens();
  return (
    <section aria-labelledby="tokens-heading" className="panel" id="tokens">
      <h2 id="tokens-heading">API tokens</h2>
      <QueryTable
        query={tokens}
        what="tokens"
        rows={tokens.data}
        empty="No tokens yet."
        head={
          <>
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
          </>
        }
      >
        {(t) => <TokenRow key={t.id} token={t} />}
      </QueryTable>
      <LoadMore query={tokens} />
      <CreateTokenForm />
    </section>
  );
}
