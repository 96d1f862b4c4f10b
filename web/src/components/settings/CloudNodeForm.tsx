import { useState } from "react";

import { useProviderOffer } from "../../api/nodes.ts";
import type { MachineType, Region } from "../../api/types.ts";
import { usePick } from "../../hooks/usePick.ts";
import { HOURS_PER_MONTH, formatCost, formatHourly } from "../../lib/money.ts";
import { formatBytes, formatCpus } from "../../lib/sizes.ts";
import { QueryStatus } from "../QueryStatus.tsx";
import { CheckboxField, SelectField, fieldError } from "../form.tsx";
import { MakeDefaultButton } from "./DefaultNode.tsx";
import {
  CredentialSelect,
  NodeForm,
  ProviderSelect,
  useProviderChoice,
  type NodeChoice,
  type ProviderFormProps,
} from "./NodeFormParts.tsx";

const priceIn = (size: MachineType, region: string) => size.prices[region] ?? size.hourly_price;

/** `cx23: 2 CPUs, 4 GiB memory, 40 GiB disk, €0.0074/h`, and its architecture if not x86. */
function describeSize(size: MachineType, region: string): string {
  const arch = size.architecture === "x86" ? "" : `, ${size.architecture}`;
  const price = formatHourly(priceIn(size, region), size.currency);
  return (
    `${size.name}: ${formatCpus(size.cpus)}, ${formatBytes(size.memory_bytes)} memory, ` +
    `${formatBytes(size.disk_bytes)} disk${arch}, ${price}`
  );
}

/** What the machine costs, said before it is made. */
function PriceNote({
  provider,
  size,
  region,
}: {
  provider: string;
  size: MachineType;
  region: Region;
}) {
  const price = priceIn(size, region.name);
  return (
    <p className="warning">
      This machine costs money: {formatHourly(price, size.currency)} (about{" "}
      {formatCost(price * HOURS_PER_MONTH, size.currency)} a month) on your {provider} account, from
      when it is made until the node is removed.
    </p>
  );
}

/**
 * A node Corral makes at a cloud provider with your credential there: its size (with the price
 * per hour in the chosen region), its region, and whether the machine's SSH port is open.
 */
export function CloudNodeForm({ providers, intro }: ProviderFormProps) {
  const { provider, pickProvider, credential } = useProviderChoice(providers);
  const offer = useProviderOffer(provider?.name ?? "", credential.name, credential.ready);
  const [region, pickRegion] = usePick(offer.data?.regions ?? []);
  const sizes = (offer.data?.machine_types ?? []).filter(
    (t) => region && (t.regions.length === 0 || t.regions.includes(region.name)),
  );
  const [size, pickSize] = usePick(sizes);
  const [allowSsh, setAllowSsh] = useState(false);
  if (!provider) return null;

  const body: NodeChoice | null =
    size && region && credential.ready
      ? {
          provider: provider.name,
          credential: credential.name,
          machine_type: size.name,
          region: region.name,
          allow_ssh: allowSsh,
        }
      : null;
  const note = !credential.ready ? null : size && region ? (
    <PriceNote provider={provider.name} size={size} region={region} />
  ) : (
    <QueryStatus query={offer} what="sizes and regions" />
  );
  const form = (
    <NodeForm
      intro={intro}
      body={body}
      fields={["body.credential", "body.machine_type", "body.region"]}
      note={note}
    >
      {(error) => (
        <>
          <ProviderSelect providers={providers} value={provider.name} onChange={pickProvider} />
          <CredentialSelect choice={credential} error={error} />
          {region && (
            <>
              <SelectField
                label="Region"
                error={fieldError(error, "body.region")}
                value={region.name}
                onChange={pickRegion}
              >
                {offer.data?.regions.map((r) => (
                  <option key={r.name} value={r.name}>
                    {r.description} ({[r.name, r.country].filter(Boolean).join(", ")})
                  </option>
                ))}
              </SelectField>
              <div className="form-grid-row">
                <SelectField
                  label="Size"
                  hint={sizes.length === 0 ? "No size is offered in this region." : undefined}
                  error={fieldError(error, "body.machine_type")}
                  value={size?.name ?? ""}
                  onChange={pickSize}
                >
                  {sizes.map((t) => (
                    <option key={t.name} value={t.name}>
                      {describeSize(t, region.name)}
                    </option>
                  ))}
                </SelectField>
              </div>
              <CheckboxField
                label="Open the SSH port"
                hint="To log in to the machine yourself; nothing else is open (the node dials out)."
                checked={allowSsh}
                onChange={setAllowSsh}
              />
            </>
          )}
        </>
      )}
    </NodeForm>
  );
  return (
    <>
      {form}
      <MakeDefaultButton template={body} />
    </>
  );
}
