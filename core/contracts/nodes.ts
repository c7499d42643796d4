/** Wire contract of enrollment, nodes, roles and the node-agent API. */
import * as v from "valibot";
import { CAPABILITIES, NODE_ROLES } from "./roles.ts";
import { ExactText, JsonObject, Limit, Text, Uuid } from "./common.ts";

const Role = v.picklist(NODE_ROLES);
const Roles = v.pipe(
  v.array(Role),
  v.maxLength(NODE_ROLES.length),
  v.check((r) => new Set(r).size === r.length, "roles must not repeat"),
);
const Json8k = JsonObject({ maxBytes: 8192 });
const Reason = Text(500, { min: 1, multiline: true });

export const ClusterParam = v.strictObject({ id: Uuid("a cluster id") });
export const ClusterItemParam = v.strictObject({ id: Uuid("a cluster id"), itemId: Uuid("an id") });
export const JoinRequestQuery = v.strictObject({
  limit: Limit,
  after: v.optional(Uuid("a cursor")),
  status: v.optional(v.picklist(["pending", "approved", "rejected", "expired"])),
});
export const NodeQuery = v.strictObject({
  limit: Limit,
  after: v.optional(Uuid("a cursor")),
  status: v.optional(v.picklist(["pending", "active", "draining", "disabled", "revoked"])),
  health: v.optional(v.picklist(["healthy", "stale", "offline"])),
  group_id: v.optional(Uuid("a group id")),
});

/** The console's workload list: a cluster's role assignments with their service state. */
export const WorkloadQuery = v.strictObject({
  limit: Limit,
  after: v.optional(Uuid("a cursor")),
  role: v.optional(Role),
  reported_state: v.optional(v.picklist(["unknown", "starting", "running", "stopping", "stopped", "failed", "unsupported"])),
});

export const NewJoinTokenBody = v.strictObject({
  ttl_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(7 * 24 * 3600)), 3600),
  max_uses: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 1),
  requested_roles: v.optional(Roles, []),
});

export const ApproveBody = v.strictObject({ group_id: v.optional(Uuid("a group id")) });
export const ReasonBody = v.strictObject({ reason: Reason });
export const RoleAssignmentBody = v.strictObject({
  role: Role,
  organization_id: v.optional(Uuid("an organization id")),
  policy: v.optional(
    v.strictObject({
      egress_pool: v.optional(Text(100, { min: 1 })),
      /** `vpn-client`: the client's address inside its organization's VPN connections (an IPv4 `/32`). */
      tunnel_address: v.optional(v.pipe(v.string(), v.regex(/^(\d{1,3}\.){3}\d{1,3}\/32$/, "must be an IPv4 address with /32"))),
      /** update-cache only: where the cache serves (agent/updates/cache.ts); heartbeats name it to the cluster's agents first. */
      cache_url: v.optional(v.pipe(v.string(), v.maxLength(300), v.url("must be a URL"), v.regex(/^https?:\/\//, "must be an http(s) URL"))),
    }),
    {},
  ),
});
export const NodeGroupBody = v.strictObject({ name: Text(100, { min: 1 }), parent_id: v.optional(Uuid("a group id")) });
export const SetGroupBody = v.strictObject({ group_id: v.nullable(Uuid("a group id")) });

// Node-agent side. Bodies are capped by the app-wide limit before anything else runs.
const PublicKey = v.pipe(v.string(), v.maxLength(512), v.base64("must be base64 SPKI"));
const Pem = v.pipe(ExactText(4096), v.startsWith("-----BEGIN CERTIFICATE REQUEST-----", "must be a PEM certificate request"));
const Fingerprint = v.pipe(v.string(), v.regex(/^SHA256:[A-Za-z0-9+/]{43}=$/, "must be SHA256:<base64>"));

export const JoinBody = v.strictObject({
  token: Text(200),
  cluster_id: Uuid("a cluster id"),
  node_name: v.pipe(Text(63), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "1-63 letters, digits, . _ -")),
  public_key: PublicKey,
  csr: Pem,
  fingerprint: Fingerprint,
  facts: v.optional(Json8k, {}),
  capabilities: v.optional(v.pipe(v.record(v.picklist(CAPABILITIES), v.boolean())), {}),
  requested_roles: v.optional(Roles, []),
});

export const EnrollmentParam = v.strictObject({ requestId: Uuid("a join request id") });
export const BootstrapBody = v.strictObject({
  cluster_id: Uuid("a cluster id"),
  fingerprint: Fingerprint,
  challenge: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "must be a challenge from /challenge")),
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/, "must be a base64url P-256 signature")),
});

export const NodeSessionBody = v.strictObject({ proof: Text(2048) });
export const HeartbeatBody = v.strictObject({
  seq: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)),
  agent_version: v.optional(Text(64)),
  telemetry: v.optional(JsonObject({ maxBytes: 4096 }), {}),
});
export const CertificateRenewBody = v.strictObject({ csr: Pem });
export const SnapshotQuery = v.strictObject({
  after_version: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/), v.transform(Number))),
  /** Seconds to hold the request for a newer snapshot (long-poll), 0–30. */
  wait: v.optional(v.pipe(v.string(), v.regex(/^\d{1,2}$/), v.transform(Number), v.maxValue(30))),
});

export const ServiceReportBody = v.strictObject({
  services: v.pipe(
    v.array(
      v.strictObject({
        service_type: v.picklist(NODE_ROLES),
        reported_state: v.picklist(["starting", "running", "stopping", "stopped", "failed", "unsupported"]),
        version: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._+-]{1,64}$/, "letters, digits, . _ + -"))),
      }),
    ),
    v.maxLength(NODE_ROLES.length),
  ),
});

export const SplitBody = v.strictObject({
  name: Text(200, { min: 1 }),
  slug: v.pipe(v.string(), v.regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "lowercase letters, digits and inner dashes, at most 63")),
  node_ids: v.pipe(
    v.array(Uuid("a node id")),
    v.minLength(1),
    v.maxLength(1000),
    v.check((ids) => new Set(ids).size === ids.length, "node ids must not repeat"),
  ),
});

export const LinkReportBody = v.strictObject({
  observations: v.pipe(
    v.array(
      v.strictObject({
        peer_node_id: Uuid("a node id"),
        reachable: v.boolean(),
        latency_ms: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(60_000))),
        loss: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0),
      }),
    ),
    v.maxLength(200),
    v.check((o) => new Set(o.map((x) => x.peer_node_id)).size === o.length, "one observation per peer"),
  ),
});

/** host:port of a node's mesh (QUIC) endpoint: an IPv4 address, [IPv6] or a DNS name. */
export const MeshEndpointBody = v.strictObject({
  address: v.pipe(
    v.string(),
    v.maxLength(260),
    v.regex(
      /^(?:(?:\d{1,3}\.){3}\d{1,3}|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/,
      "must be host:port",
    ),
  ),
});

/**
 * Where an entry node takes client connections: the public URLs of its
 * WebTransport listener (`https://host:port/path`; the WebSocket fallback is
 * the same host and port with `wss:`), and the SHA-256 hashes (hex) of the
 * self-signed certificate clients pin, when it uses one.
 */
export const EntryEndpointBody = v.strictObject({
  urls: v.pipe(
    v.array(v.pipe(v.string(), v.maxLength(300), v.regex(/^https:\/\/[A-Za-z0-9.\-[\]:]+:\d{1,5}\/[A-Za-z0-9/._-]*$/, "must be https://host:port/path"))),
    v.minLength(1),
    v.maxLength(4),
  ),
  certificate_hashes: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in lowercase hex"))), v.maxLength(4)),
});

/** Route-health feedback: whether pings over a signed relay path to `to` are answered. */
export const RouteHealthBody = v.strictObject({
  reports: v.pipe(
    v.array(
      v.strictObject({
        to: Uuid("a node id"),
        via: v.pipe(v.array(Uuid("a relay node id")), v.minLength(1), v.maxLength(7)),
        healthy: v.boolean(),
      }),
    ),
    v.minLength(1),
    v.maxLength(50),
  ),
});

/** A platform admin's route intent: traffic from → to goes through `via` (relay nodes, in order). */
export const RouteIntentBody = v.strictObject({
  from_node_id: Uuid("a node id"),
  to_node_id: Uuid("a node id"),
  via: v.pipe(
    v.array(Uuid("a relay node id")),
    v.minLength(1),
    v.maxLength(2),
    v.check((ids) => new Set(ids).size === ids.length, "relays must not repeat"),
  ),
  reason: Reason,
});
