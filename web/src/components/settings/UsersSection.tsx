import { useId, useState } from "react";

import {
  useCreateInvite,
  useInvites,
  useRevokeInvite,
  useSetUserEnabled,
  useUsers,
} from "../../api/queries.ts";
import type { Invite, User, UserDetail } from "../../api/types.ts";
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

/** Disable (after confirming) or enable a member who has joined; nothing for anyone else. */
function UserActions({ user, onDone }: { user: User; onDone: (user: UserDetail) => void }) {
  const change = useSetUserEnabled();
  if (user.role === "owner" || (user.state !== "active" && user.state !== "disabled")) {
    return null;
  }
  const set = (enabled: boolean) =>
    change.mutate({ user: user.id, enabled }, { onSuccess: (detail) => onDone(detail) });
  return (
    <>
      {user.state === "active" ? (
        <ConfirmButton
          label={`Disable ${user.name}`}
          question={
            `Disable ${user.name}? Their API tokens, browser sessions and open connections ` +
            "stop working at once, and their agent sessions are stopped."
          }
          confirmLabel="Disable"
          pending={change.isPending}
          onConfirm={() => set(false)}
        >
          Disable
        </ConfirmButton>
      ) : (
        <button
          type="button"
          aria-label={`Enable ${user.name}`}
          disabled={change.isPending}
          onClick={() => set(true)}
        >
          {change.isPending ? "Enabling…" : "Enable"}
        </button>
      )}
      {change.isError && <ErrorMessage error={change.error} />}
    </>
  );
}

/** What disabling or enabling someone did: the agent sessions disabling stopped, or not. */
function Outcome({ user }: { user: UserDetail }) {
  if (user.state !== "disabled") {
    return <p>{user.name} is enabled: the tokens and browser sessions they had work again.</p>;
  }
  const failed = user.sessions.filter((s) => s.stop_error);
  return (
    <>
      <p>
        {user.name} is disabled: their API tokens, browser sessions and open connections no longer
        work.{" "}
        {user.sessions.length === 0
          ? "They had no agent sessions running."
          : `Stopped ${user.sessions.length - failed.length} of their ${user.sessions.length} ` +
            "running agent sessions."}
      </p>
      {failed.length > 0 && (
        <ul>
          {failed.map((s) => (
            <li key={s.id}>
              {s.agent} in {s.workspace ?? "a removed workspace"}
              {s.node && ` on ${s.node}`}: not stopped ({s.stop_error}). Disable {user.name} again
              to retry.
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** Everyone on this Corral, and invites (owner only). */
export function UsersSection() {
  const users = useUsers();
  const [outcome, setOutcome] = useState<UserDetail | null>(null);
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
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
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
            <td>
              <UserActions user={u} onDone={setOutcome} />
            </td>
          </tr>
        )}
      </QueryTable>
      <LoadMore query={users} />
      <div role="status">{outcome && <Outcome user={outcome} />}</div>
      <PendingInvites />
      <InviteForm />
    </section>
  );
}
