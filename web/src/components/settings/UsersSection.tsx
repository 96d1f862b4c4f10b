import { useId } from "react";

import { useCreateInvite, useInvites, useRevokeInvite, useUsers } from "../../api/queries.ts";
import type { Invite } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";
import { ConfirmButton, NameForm, SecretOnce } from "../form.tsx";

function InviteRow({ invite }: { invite: Invite }) {
  const revoke = useRevokeInvite();
  const name = invite.user.name;
  return (
    <tr>
      <td>{name}</td>
      <td className="hide-narrow">
        <Ago at={invite.created_at} />
      </td>
      <td>
        <time dateTime={invite.expires_at}>{new Date(invite.expires_at).toLocaleString()}</time>
      </td>
      <td>
        <ConfirmButton
          label={`Revoke the invite for ${name}`}
          question={`Revoke the invite for ${name}? Their link stops working.`}
          confirmLabel="Revoke"
          pending={revoke.isPending}
          onConfirm={() => revoke.mutate(invite.id)}
        >
          Revoke
        </ConfirmButton>
        {revoke.isError && <ErrorMessage error={revoke.error} />}
      </td>
    </tr>
  );
}

/** Invites sent and not yet accepted, each revocable. */
function PendingInvites() {
  const invites = useInvites();
  const id = useId();
  return (
    <>
      <h3 id={id}>Pending invites</h3>
      <QueryTable
        query={invites}
        what="invites"
        labelledBy={id}
        rows={invites.data}
        empty="No invites waiting."
        head={
          <>
            <th scope="col">Name</th>
            <th scope="col" className="hide-narrow">
              Sent
            </th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </>
        }
      >
        {(i) => <InviteRow key={i.id} invite={i} />}
      </QueryTable>
      <LoadMore query={invites} />
    </>
  );
}

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
      <PendingInvites />
      <InviteForm />
    </section>
  );
}
