/**
 * The signed node snapshot: what the control plane tells one node about its
 * roles, its mesh (peers, QoS, relays, signed relay paths, relay leases), its
 * entry-node keys and its services. Built by control/nodes/snapshots.ts,
 * verified and parsed by the agent (agent/verify.ts) with the schema below,
 * so the two sides share one shape. Objects are not strict: an older agent
 * ignores fields a newer control plane adds. Also the JWS `typ` of every
 * authority-signed document a node receives.
 */
import * as v from "valibot";
import { VpnAssignment, VpnClientAssignment } from "./vpn.ts";

export const SNAPSHOT_TYPE = "rap.node_snapshot.v1";
export const BOOTSTRAP_TYPE = "rap.bootstrap_bundle.v1";
export const REVOCATION_TYPE = "rap.revocation_list.v1";
export const snapshotAudience = (nodeId: string) => `node:${nodeId}`;

const Id = v.string();
const NodePath = v.array(Id);

export const MeshPeer = v.object({
  node_id: Id,
  name: v.string(),
  roles: v.array(v.string()),
  endpoints: v.array(v.object({ transport: v.literal("quic"), address: v.string() })),
});

export const SnapshotMesh = v.object({
  peers: v.array(MeshPeer),
  qos: v.object({
    // Names are the channel classes of core/contracts/channel-classes.ts; a string here so an agent
    // keeps a snapshot naming a class it does not know yet (it ignores that class).
    classes: v.array(v.object({ name: v.string(), priority: v.number(), reliable: v.boolean() })),
    max_relay_hops: v.number(),
  }),
  /** Peers that may forward traffic for this node. */
  relays: v.array(Id),
  /**
   * Relay paths to peers this node cannot reach directly, each with
   * alternates through other first relays, so an agent fails over without
   * asking. `pinned` paths come from a route intent: agents never shortcut them.
   */
  route_paths: v.array(v.object({ to: Id, via: NodePath, alternates: v.array(NodePath), pinned: v.optional(v.literal(true)) })),
  /** Relay nodes only: the end-node pairs it may forward between, until `expires_at`. */
  relay_leases: v.optional(v.object({ pairs: v.array(v.tuple([Id, Id])), expires_at: v.string() })),
});

export const SnapshotBody = v.object({
  node_id: Id,
  roles: v.array(v.object({ role: v.string(), organization_id: v.nullable(Id) })),
  heartbeat_interval_seconds: v.number(),
  revocation_list_version: v.number(),
  mesh: v.optional(SnapshotMesh),
  entry: v.optional(
    v.object({
      token_validation_keys: v.array(v.object({ kid: v.string(), alg: v.literal("EdDSA"), public_key: v.string() })),
      policy: v.object({ max_token_ttl_seconds: v.number() }),
    }),
  ),
  services: v.optional(
    v.array(
      v.object({
        role: v.string(),
        organization_id: v.nullable(Id),
        desired_state: v.literal("running"),
        egress_pool: v.nullable(v.string()),
        resources: v.array(v.object({ id: Id, protocol: v.string(), target_host: v.string(), target_port: v.number(), egress_pool: v.nullable(v.string()) })),
      }),
    ),
  ),
  /** VPN connections this node runs (`active`, under the lease's epoch) or stands by for (docs/vpn.md). */
  vpn: v.optional(v.array(VpnAssignment)),
  /** `vpn-client` nodes: the connections of their organization they may use, with the current owner (docs/vpn.md "Clients"). */
  vpn_client: v.optional(v.array(VpnClientAssignment)),
});

/** The snapshot as signed: the body plus its version and the authority's term (and the JWS claims). */
export const SignedSnapshot = v.object({ ...SnapshotBody.entries, version: v.number(), term: v.number() });

export type MeshPeer = v.InferOutput<typeof MeshPeer>;
export type SnapshotMesh = v.InferOutput<typeof SnapshotMesh>;
export type SnapshotBody = v.InferOutput<typeof SnapshotBody>;
export type SignedSnapshot = v.InferOutput<typeof SignedSnapshot>;
