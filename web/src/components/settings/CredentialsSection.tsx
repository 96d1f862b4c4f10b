import { useState } from "react";

import { useAllCredentials, useCredentials, useDeleteCredential } from "../../api/queries.ts";
import type { Credential } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { Ago } from "../Time.tsx";
import { CredentialForm } from "./CredentialForm.tsx";
import { ConfirmButton } from "../form.tsx";

function CredentialRow({
  credential,
  onReplace,
}: {
  credential: Credential;
  onReplace: (c: Credential) => void;
}) {
  const remove = useDeleteCredential();
  return (
    <tr>
      <td>{credential.name}</td>
      <td>{credential.kind}</td>
      <td>
        {credential.last4 ? <code>…{credential.last4}</code> : <span className="muted">—</span>}
      </td>
      <td className="hide-narrow">
        {credential.last_used_at ? <Ago at={credential.last_used_at} /> : "never"}
      </td>
      <td>
        <div className="button-row">
          <button
            type="button"
            aria-label={`Replace ${credential.name}`}
            onClick={() => onReplace(credential)}
          >
            Replace
          </button>
          <ConfirmButton
            label={`Delete ${credential.name}`}
            question={`Delete ${credential.name}? Agents using it stop getting it.`}
            confirmLabel="Delete"
            pending={remove.isPending}
            onConfirm={() => remove.mutate(credential.name)}
          >
            Delete
          </ConfirmButton>
        </div>
        {remove.isError && <ErrorMessage error={remove.error} />}
      </td>
    </tr>
  );
}

/** Your credentials: metadata only. Add, replace a value, delete. */
export function CredentialsSection() {
  const credentials = useCredentials();
  // Every name, not only the pages shown, to warn that saving would replace a value.
  const all = useAllCredentials();
  const [replacing, setReplacing] = useState<Credential | null>(null);
  return (
    <section aria-labelledby="credentials-heading" className="panel" id="credentials">
      <h2 id="credentials-heading">Credentials</h2>
      <p className="muted">
        API keys and tokens your agents and nodes use. Values go to the control plane and never come
        back: only the last four characters are shown.
      </p>
      <QueryTable
        query={credentials}
        what="credentials"
        rows={credentials.data}
        empty="No credentials yet."
        head={
          <>
            <th scope="col">Name</th>
            <th scope="col">Kind</th>
            <th scope="col">Ends with</th>
            <th scope="col" className="hide-narrow">
              Last used
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </>
        }
      >
        {(c) => <CredentialRow key={c.id} credential={c} onReplace={setReplacing} />}
      </QueryTable>
      <LoadMore query={credentials} />
      {replacing ? (
        <CredentialForm
          key={replacing.id}
          replacing={replacing}
          onDone={() => setReplacing(null)}
        />
      ) : (
        <CredentialForm existingNames={all.data?.map((c) => c.name)} />
      )}
    </section>
  );
}
