import { useState } from "react";

import { useProviders } from "../../api/nodes.ts";
import { QueryStatus } from "../QueryStatus.tsx";
import { RadioGroup } from "../form.tsx";
import { CloudNodeForm } from "./CloudNodeForm.tsx";
import { NodeForm } from "./NodeFormParts.tsx";
import { SshNodeForm } from "./SshNodeForm.tsx";

/** How a node is made: by hand, or by a provider of kind `cloud` or `machine`. */
type How = "manual" | "cloud" | "machine";

const HOW: readonly { value: How; label: string; hint: string }[] = [
  {
    value: "manual",
    label: "Manual",
    hint: "You run a join command on a machine that has Corral installed.",
  },
  {
    value: "cloud",
    label: "Cloud",
    hint:
      "Corral makes a machine at a cloud provider with your account there, and deletes it " +
      "when you remove the node.",
  },
  {
    value: "machine",
    label: "SSH",
    hint: "Corral installs the node onto a server you have, logging in over SSH with your key.",
  },
];

const MANUAL = { provider: "manual", allow_ssh: false } as const;

/**
 * Add a node: by hand (the owner only), or made by an enabled provider with your credential, as
 * each kind is offered.
 */
export function AddNodeForm({ isOwner }: { isOwner: boolean }) {
  const providers = useProviders();
  const [picked, setPicked] = useState<How | null>(null);
  const ofKind = (kind: How) => (providers.data ?? []).filter((p) => p.kind === kind);
  const choices = HOW.filter((h) => (h.value === "manual" ? isOwner : ofKind(h.value).length > 0));
  const how = choices.find((c) => c.value === picked)?.value ?? choices[0]?.value;
  if (!how) {
    return providers.data ? (
      <p className="muted">
        Only the owner adds nodes by hand, and no provider is enabled to make one.
      </p>
    ) : (
      <QueryStatus query={providers} what="providers" />
    );
  }
  const intro = choices.length > 1 && (
    <RadioGroup legend="How it is made" choices={choices} value={how} onChange={setPicked} />
  );
  switch (how) {
    case "manual":
      return (
        <NodeForm intro={intro} body={MANUAL} fields={[]}>
          {() => null}
        </NodeForm>
      );
    case "cloud":
      return <CloudNodeForm providers={ofKind("cloud")} intro={intro} />;
    case "machine":
      return <SshNodeForm providers={ofKind("machine")} intro={intro} />;
  }
}
