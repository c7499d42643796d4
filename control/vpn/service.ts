/**
 * VPN connections, the admin side: create, update, disable, enable, delete.
 * Each is one commit: the connection actor's transition (its projection and
 * audit), the lease actor's when it follows (open, fence, retire, through
 * the connection kind's cascade), and the sealed WireGuard configuration.
 * Configuration is checked first (control/vpn/config.ts); a refused change
 * writes nothing. Placement runs after the commit (control/vpn/placement.ts).
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { countResourcesThroughVpn } from "../../sql/resources.ts";
import type { Tx } from "../../sql/db.ts";
import { getVpnConnection, setVpnSecret, type VpnConnectionRow } from "../../sql/vpn.ts";
import { VPN_CONNECTION } from "../../actors/vpn-connection/kind.ts";
import { VPN_LEASE } from "../../actors/vpn-lease/kind.ts";
import type { VpnConfig } from "../../actors/vpn-connection/machine.ts";

export type { VpnConfig };
import { checkVpnConfig } from "./config.ts";
import { reconcileVpnConnection } from "./placement.ts";
import { uniqueAs } from "../organizations/service.ts";
import { VPN_LEASE_TTL_MS } from "../../core/vpn/lease-timing.ts";

const nameTaken = () => uniqueAs("vpn_connections_org_name", "vpn.name_taken", "another VPN connection of the organization has that name");

type Deps = Pick<ControlDeps, "db" | "host" | "clock" | "identity" | "fabric">;

/** The WireGuard side of a connection, sealed at rest and given only to the active owner. */
export interface WireguardSecret {
  private_key: string;
  peer_public_key: string;
  preshared_key: string | null;
  tunnel_addresses: string[];
}

export const vpnSecretAad = (connectionId: string) => `vpn-secret:${connectionId}`;

async function seal(deps: Deps, id: string, secret: WireguardSecret) {
  return deps.identity.keyring.seal(new TextEncoder().encode(JSON.stringify(secret)), vpnSecretAad(id));
}

/** Serialises changes to one organization's connections, so two concurrent creates cannot both pass the overlap check. */
async function lockOrganization(tx: Tx, organizationId: string): Promise<void> {
  await tx.query("select id from organizations where id = $1 for update", [organizationId]);
}

async function live(tx: Tx, organizationId: string | null, id: string): Promise<VpnConnectionRow> {
  const c = await getVpnConnection(tx, id);
  if (!c || (organizationId !== null && c.organizationId !== organizationId)) throw new DomainError("vpn.not_found", "no such VPN connection", { id });
  return c;
}

export async function createVpnConnection(
  deps: Deps,
  organizationId: string,
  input: { config: VpnConfig; secret: WireguardSecret; enabled: boolean },
  change: ChangeContext,
): Promise<string> {
  const id = newId(deps.clock().getTime());
  const sealed = await seal(deps, id, input.secret);
  await deps.host
    .batch(async (tx, step) => {
      await lockOrganization(tx, organizationId);
      await checkVpnConfig(tx, organizationId, input.config, null);
      await step(VPN_CONNECTION, id, { type: "vpn.create", organizationId, config: input.config, enabled: input.enabled }, change);
      await step(VPN_LEASE, id, { type: "lease.open", connectionId: id, organizationId, ttlMs: VPN_LEASE_TTL_MS }, change);
      await setVpnSecret(tx, id, sealed);
    })
    .catch(nameTaken());
  await reconcileVpnConnection(deps, id, change);
  return id;
}

export async function updateVpnConnection(
  deps: Deps,
  organizationId: string | null,
  id: string,
  input: { config: VpnConfig; secret?: WireguardSecret },
  change: ChangeContext,
): Promise<void> {
  const sealed = input.secret ? await seal(deps, id, input.secret) : undefined;
  await deps.host
    .batch(async (tx, step) => {
      const c = await live(tx, organizationId, id);
      await lockOrganization(tx, c.organizationId);
      await checkVpnConfig(tx, c.organizationId, input.config, id);
      await step(VPN_CONNECTION, id, { type: "vpn.update", config: input.config, secretChanged: Boolean(sealed) }, change);
      if (sealed) await setVpnSecret(tx, id, sealed);
    })
    .catch(nameTaken());
  await reconcileVpnConnection(deps, id, change);
  await deps.fabric.snapshots.changed(null);
}

/** Live remote sessions on resources that route through this connection: its attached clients. */
async function attachedSessions(tx: Tx, c: VpnConnectionRow): Promise<number> {
  // The resources the policy names, and those that name the connection (their adapters dial through it).
  const [r] = await tx.query<{ n: string | number }>(
    `select count(*) as n from remote_sessions
      where (resource_id = any($1::uuid[]) or resource_id in (select id from resources where vpn_connection_id = $2))
        and state in ('placing', 'starting', 'active', 'detached')`,
    [`{${c.routing.resourceIds.join(",")}}`, c.id],
  );
  return Number(r?.n ?? 0);
}

export async function setVpnConnectionEnabled(
  deps: Deps,
  organizationId: string | null,
  id: string,
  enabled: boolean,
  o: { reason?: string; force?: boolean },
  change: ChangeContext,
): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    const c = await live(tx, organizationId, id);
    if (enabled === (c.state === "enabled")) return;
    if (!enabled && !o.force) {
      const attached = await attachedSessions(tx, c);
      if (attached > 0) throw new DomainError("vpn.clients_attached", "sessions are using this VPN connection", { sessions: attached });
    }
    await step(VPN_CONNECTION, id, enabled ? { type: "vpn.enable" } : { type: "vpn.disable", reason: o.reason ?? "disabled_by_admin" }, change);
  });
  await reconcileVpnConnection(deps, id, change);
  await deps.fabric.snapshots.changed(null);
}

export async function deleteVpnConnection(deps: Deps, organizationId: string | null, id: string, change: ChangeContext): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    const c = await live(tx, organizationId, id);
    if (c.state !== "disabled") throw new DomainError("vpn.not_disabled", "disable the VPN connection first", { id });
    const routed = await countResourcesThroughVpn(tx, id);
    if (routed > 0) throw new DomainError("vpn.resources_attached", "resources route their sessions through this VPN connection", { resources: routed });
    await step(VPN_CONNECTION, id, { type: "vpn.delete" }, change);
    await tx.query("delete from vpn_connection_secrets where connection_id = $1", [id]);
  });
  await deps.fabric.snapshots.changed(null);
}
