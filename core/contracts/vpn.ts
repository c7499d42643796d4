/**
 * VPN connections (docs/vpn.md): the lease history every party records in
 * one format, and the node-facing shapes of an assignment. The control plane
 * (the lease actor's projection), the agent's lease keeper and the tests all
 * write `VpnHistoryEvent`s, so one checker (core/vpn/history.ts) can read a
 * run's whole story: grants, renewals and ends from the control plane,
 * forwarding starts, stops and packets from the agents.
 */
import * as v from "valibot";
import { Text } from "./common.ts";

/** Lease changes the control plane records (the lease actor's projection). */
export const VPN_LEASE_EVENT_KINDS = ["lease.granted", "lease.renewed", "lease.expired", "lease.released", "lease.fenced"] as const;
/** What an agent records about its own forwarding: it started, it stopped, or it forwarded a packet (a sample is enough). */
export const VPN_FORWARD_EVENT_KINDS = ["forward.started", "forward.stopped", "forward.packet"] as const;
export const VPN_HISTORY_EVENT_KINDS = [...VPN_LEASE_EVENT_KINDS, ...VPN_FORWARD_EVENT_KINDS] as const;
export type VpnLeaseEventKind = (typeof VPN_LEASE_EVENT_KINDS)[number];
export type VpnForwardEventKind = (typeof VPN_FORWARD_EVENT_KINDS)[number];

/**
 * One recorded fact. `epoch` is the lease's fencing epoch the fact belongs
 * to; `at` is the recorder's clock (ISO 8601); `expires_at` is the lease end
 * a grant or renewal set; `reason` says why a lease or forwarding ended.
 */
export const VpnHistoryEvent = v.object({
  kind: v.picklist(VPN_HISTORY_EVENT_KINDS),
  connection_id: v.string(),
  node_id: v.string(),
  epoch: v.pipe(v.number(), v.integer(), v.minValue(1)),
  at: v.string(),
  expires_at: v.optional(v.string()),
  reason: v.optional(v.string()),
});
export type VpnHistoryEvent = v.InferOutput<typeof VpnHistoryEvent>;

/** Where the tunnel goes: the site's name and its WireGuard gateway. */
export const VpnTarget = v.object({ site: v.string(), address: v.string(), port: v.number() });
export type VpnTarget = v.InferOutput<typeof VpnTarget>;

/** What may use the connection and where it may lead (§9.1 "Routing Policy Layer"). */
export const VpnRouting = v.object({
  allowed_cidrs: v.array(v.string()),
  denied_cidrs: v.array(v.string()),
  dns_routes: v.array(v.object({ suffix: v.string(), servers: v.array(v.string()) })),
  services: v.array(v.string()),
  resource_ids: v.array(v.string()),
  internet_egress: v.boolean(),
});
export type VpnRouting = v.InferOutput<typeof VpnRouting>;

/** One VPN connection a node serves, as its signed snapshot names it. The WireGuard secret is never here. */
export const VpnAssignment = v.object({
  connection_id: v.string(),
  organization_id: v.string(),
  role: v.picklist(["active", "standby"]),
  /**
   * The lease's fencing epoch; a standby sees the current owner's, so it knows what a takeover must beat.
   * The lease's expiry is not here (it moves with every renewal, and a snapshot changes only when its
   * content does): the renewal answer carries it.
   */
  epoch: v.number(),
  ttl_seconds: v.number(),
  /** Bumped when the WireGuard configuration changes: the active owner fetches it again (vpnSecret). */
  secret_version: v.number(),
  target: VpnTarget,
  routing: VpnRouting,
  /** The organization's `vpn-client` nodes and their tunnel addresses: the owner routes each address back to its node (and accepts it only from there). */
  clients: v.optional(v.array(v.object({ node_id: v.string(), address: v.string() }))),
  /** The organization's adapter nodes (`ssh-worker`, `rdp-worker`): the owner opens TCP for their managed sessions only (dial streams). */
  adapters: v.optional(v.array(v.string())),
});
export type VpnAssignment = v.InferOutput<typeof VpnAssignment>;

/**
 * One connection a `vpn-client` node may use, as its signed snapshot names it: where to send (the lease's current
 * owner and epoch; null while nobody holds it), its own tunnel address, and the routing policy it installs (split
 * tunnel from the allowed ranges, full tunnel when internet egress is allowed). Changes of owner arrive as new snapshots.
 */
export const VpnClientAssignment = v.object({
  connection_id: v.string(),
  organization_id: v.string(),
  owner_node_id: v.nullable(v.string()),
  epoch: v.number(),
  tunnel_address: v.string(),
  routing: VpnRouting,
});
export type VpnClientAssignment = v.InferOutput<typeof VpnClientAssignment>;

/** The node-agent calls' bodies and answers (core/contracts/node-agent-api.ts). */
export const VpnConnectionParam = v.strictObject({ connectionId: v.pipe(v.string(), v.uuid("must be a VPN connection id")) });
export const VpnEpochBody = v.strictObject({ epoch: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER)) });
/** A renewal: the new expiry (and whether the control plane wants the lease back: drain), or a refusal that fences. */
export const VpnRenewAnswer = v.variant("status", [
  v.object({ status: v.literal("renewed"), epoch: v.number(), expires_at: v.string(), ttl_seconds: v.number(), release_requested: v.boolean() }),
  v.object({ status: v.literal("refused"), reason: v.string() }),
]);
export const VpnReleaseAnswer = v.object({ released: v.boolean() });
/** The WireGuard configuration, to the active owner only (audited, never logged). */
export const VpnSecretAnswer = v.object({
  connection_id: v.string(),
  epoch: v.number(),
  secret_version: v.number(),
  wireguard: v.object({
    private_key: v.string(),
    peer_public_key: v.string(),
    preshared_key: v.nullable(v.string()),
    tunnel_addresses: v.array(v.string()),
  }),
});
export type VpnRenewAnswer = v.InferOutput<typeof VpnRenewAnswer>;
export type VpnSecretAnswer = v.InferOutput<typeof VpnSecretAnswer>;

// ---- Admin API (http/vpn/routes.ts): bodies, strict, every string bounded. ----

const Name = v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be 1–63 lowercase letters, digits or dashes"));
/** Storable one-line text, trimmed, not empty (core/contracts/common.ts). */
const Short = (max: number) => Text(max, { min: 1 });
/** Syntax only here; control/vpn/config.ts checks canonical form and overlaps with a stable code. */
const CidrText = v.pipe(v.string(), v.maxLength(43, "must be a CIDR range"), v.regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, "must be a CIDR range"));
const Key = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{42,43}=?$/, "must be a WireGuard key (base64 of 32 bytes)"));
const NodeId = v.pipe(v.string(), v.uuid("must be a node id"));
const Region = Short(64);
const Mbps = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000)));

export const VpnConfigBody = v.strictObject({
  name: Name,
  target: v.strictObject({ site: Short(120), address: Short(253), port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)) }),
  /** Absent or empty: any capable node of the organization; else only these nodes. */
  allowed_node_ids: v.optional(v.pipe(v.array(NodeId), v.maxLength(64)), []),
  routing: v.strictObject({
    allowed_cidrs: v.pipe(v.array(CidrText), v.minLength(1, "needs at least one allowed range"), v.maxLength(256)),
    denied_cidrs: v.optional(v.pipe(v.array(CidrText), v.maxLength(256)), []),
    dns_routes: v.optional(
      v.pipe(v.array(v.strictObject({ suffix: Short(253), servers: v.pipe(v.array(Short(45)), v.minLength(1), v.maxLength(8)) })), v.maxLength(64)),
      [],
    ),
    services: v.optional(v.pipe(v.array(v.picklist(["rdp", "vnc", "ssh", "http", "ip_tunnel"])), v.maxLength(5)), ["ip_tunnel"]),
    resource_ids: v.optional(v.pipe(v.array(v.pipe(v.string(), v.uuid("must be a resource id"))), v.maxLength(256)), []),
    internet_egress: v.optional(v.boolean(), false),
  }),
  placement: v.optional(
    v.strictObject({
      allowed_regions: v.optional(v.pipe(v.array(Region), v.maxLength(32)), []),
      preferred_regions: v.optional(v.pipe(v.array(Region), v.maxLength(32)), []),
      standby: v.optional(v.boolean(), true),
    }),
    {},
  ),
  bandwidth: v.optional(v.strictObject({ max_mbps: v.optional(Mbps, null), per_client_mbps: v.optional(Mbps, null) }), {}),
});

export const WireguardSecretBody = v.strictObject({
  private_key: Key,
  peer_public_key: Key,
  preshared_key: v.optional(v.nullable(Key), null),
  tunnel_addresses: v.pipe(v.array(CidrText), v.minLength(1), v.maxLength(4)),
});

export const NewVpnBody = v.strictObject({ ...VpnConfigBody.entries, secret: WireguardSecretBody, enabled: v.optional(v.boolean(), true) });
export const UpdateVpnBody = v.strictObject({ ...VpnConfigBody.entries, secret: v.optional(WireguardSecretBody) });
export const DisableVpnBody = v.strictObject({ reason: v.optional(Short(200)), force: v.optional(v.boolean(), false) });
export const OrgVpnParam = v.strictObject({
  orgId: v.pipe(v.string(), v.uuid("must be an organization id")),
  vpnId: v.pipe(v.string(), v.uuid("must be a VPN connection id")),
});
export const VpnIdParam = v.strictObject({ vpnId: v.pipe(v.string(), v.uuid("must be a VPN connection id")) });
