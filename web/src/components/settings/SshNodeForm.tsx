import { useState } from "react";

import { TextField, fieldError } from "../form.tsx";
import {
  CredentialSelect,
  NodeForm,
  ProviderSelect,
  useProviderChoice,
  type NodeChoice,
  type ProviderFormProps,
} from "./NodeFormParts.tsx";

/** The API's errors for the server's fields; one that names no field of `ssh` goes by the host. */
function sshErrors(error: unknown) {
  const port = fieldError(error, "body.ssh.port");
  const user = fieldError(error, "body.ssh.user");
  const host =
    fieldError(error, "body.ssh.host") ?? (port || user ? null : fieldError(error, "body.ssh"));
  return { host, port, user };
}

/**
 * A node Corral installs onto a server you have (a provider of kind `machine`), logging in over
 * SSH as `user` with your key.
 */
export function SshNodeForm({ providers, intro }: ProviderFormProps) {
  const { provider, pickProvider, credential } = useProviderChoice(providers);
  const [host, setHost] = useState("");
  const [port, setPort] = useState("22");
  const [user, setUser] = useState("root");
  if (!provider) return null;

  const portNumber = Number(port);
  const target = {
    host: host.trim(),
    port: Number.isInteger(portNumber) && portNumber > 0 && portNumber < 65536 ? portNumber : null,
    user: user.trim(),
  };
  const body: NodeChoice | null =
    target.host && target.port !== null && target.user && credential.ready
      ? {
          provider: provider.name,
          credential: credential.name,
          allow_ssh: false,
          ssh: { ...target, port: target.port },
        }
      : null;
  const note = (
    <p className="muted">
      Corral logs in as {target.user || "the user"}@{target.host || "the server"} with your key (as
      root or with passwordless sudo), keeps the server&apos;s host key from this first login, and
      installs the node. Removing the node uninstalls it; the server stays.
    </p>
  );
  return (
    <NodeForm intro={intro} body={body} fields={["body.credential", "body.ssh"]} note={note}>
      {(error) => {
        const errors = sshErrors(error);
        return (
          <>
            <ProviderSelect providers={providers} value={provider.name} onChange={pickProvider} />
            <TextField
              label="Host"
              hint="The server's name or address."
              error={errors.host}
              value={host}
              required
              maxLength={253}
              spellCheck={false}
              onChange={setHost}
            />
            <TextField
              label="Port"
              error={errors.port}
              type="number"
              min={1}
              max={65535}
              value={port}
              required
              onChange={setPort}
            />
            <TextField
              label="User"
              error={errors.user}
              value={user}
              required
              maxLength={32}
              spellCheck={false}
              onChange={setUser}
            />
            <CredentialSelect choice={credential} error={error} />
          </>
        );
      }}
    </NodeForm>
  );
}
