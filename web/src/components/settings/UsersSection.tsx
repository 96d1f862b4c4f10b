import { useId, useState, type FormEvent } from "react";

import { useCreateInvite, useUsers } from "../../api/queries.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";
import { Field, SecretOnce, fieldError } from "../form.tsx";

function InviteForm() {
  const [name, setName] = useState("");
  const invite = useCreateInvite();
  const headingId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || invite.isPending) return;
    invite.mutate(name.trim(), { onSuccess: () => setName("") });
  };

  if (invite.data) {
    return (
      <SecretOnce
        title={`Invite link for ${invite.data.user.name}`}
        value={invite.data.invite_url}
        onDone={() => invite.reset()}
      >
        <p>
          Send this link to {invite.data.user.name}. It works once, until{" "}
          <time dateTime={invite.data.expires_at}>
            {new Date(invite.data.expires_at).toLocaleString()}
          </time>
          .
        </p>
      </SecretOnce>
    );
  }

  const nameError = fieldError(invite.error, "body.name");
  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId}>
      <h3 id={headingId}>Invite someone</h3>
      <div className="form-grid">
        <Field
          label="User name"
          error={nameError}
          hint="Inviting someone who has not signed in yet makes a new link; the old one stops."
        >
          {(props) => (
            <input
              {...props}
              type="text"
              value={name}
              required
              maxLength={64}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
      </div>
      {invite.isError && !nameError && <ErrorMessage error={invite.error} />}
      <button type="submit" className="button-primary" disabled={!name.trim() || invite.isPending}>
        {invite.isPending ? "Inviting…" : "Create invite link"}
      </button>
    </form>
  );
}

/** Everyone on this Corral, and invites (owner only). */
export function UsersSection() {
  const users = useUsers();
  return (
    <section aria-labelledby="users-heading" className="panel" id="users">
      <h2 id="users-heading">Users</h2>
      <QueryStatus query={users} what="users" />
      {users.data && (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Since</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <td>{u.name}</td>
                  <td>{u.role}</td>
                  <td>
                    <StateBadge state={u.state} />
                  </td>
                  <td>
                    <Ago at={u.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {users.hasNextPage && (
        <p>
          <button
            type="button"
            onClick={() => void users.fetchNextPage()}
            disabled={users.isFetchingNextPage}
          >
            {users.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
      {users.isFetchNextPageError && <ErrorMessage error={users.error} />}
      <InviteForm />
    </section>
  );
}
