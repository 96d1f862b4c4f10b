import { useCreateInvite, useUsers } from "../../api/queries.ts";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";
import { NameForm, SecretOnce } from "../form.tsx";

function InviteForm() {
  const invite = useCreateInvite();
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
  return (
    <NameForm
      title="Invite someone"
      mutation={invite}
      label="User name"
      hint="Inviting someone who has not signed in yet makes a new link; the old one stops."
      maxLength={64}
      spellCheck={false}
      submit="Create invite link"
      pendingLabel="Inviting…"
    />
  );
}

/** Everyone on this Corral, and invites (owner only). */
export function UsersSection() {
  const users = useUsers();
  return (
    <section aria-labelledby="users-heading" className="panel" id="users">
      <h2 id="users-heading">Users</h2>
      <QueryTable
        query={users}
        what="users"
        rows={users.data}
        head={
          <>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">State</th>
            <th scope="col">Since</th>
          </>
        }
      >
        {(u) => (
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
        )}
      </QueryTable>
      <LoadMore query={users} />
      <InviteForm />
    </section>
  );
}
