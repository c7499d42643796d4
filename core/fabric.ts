/**
 * Fabric vocabulary shared by the control plane and rap-node-agent: node
 * roles, the capability each one needs, and which snapshot sections a role
 * may see. Capabilities are reported facts; roles are explicit grants.
 */
// Capabilities and roles are wire vocabulary (core/contracts/roles.ts; the browser console needs them too).
export type { Capability, NodeRole } from "./contracts/roles.ts";
import { ROLE_REQUIRES, type Capability, type NodeRole } from "./contracts/roles.ts";

/** Adapter roles: they end remote sessions' channel streams, which reach them from entry nodes over the mesh. */
export const ADAPTER_ROLES: readonly NodeRole[] = ["rdp-worker", "vnc-worker", "ssh-worker"];
/** The VPN roles: the owner of a connection ends its packets at the egress; a client sends them (docs/vpn.md). */
export const VPN_MESH_ROLES: readonly NodeRole[] = ["vpn-connector", "vpn-client"];
/** Roles that carry or end mesh traffic and so need peers and route/QoS policy. */
export const MESH_ROLES: readonly NodeRole[] = ["entry-node", "relay-node", "video-relay", ...ADAPTER_ROLES, ...VPN_MESH_ROLES];
/** Roles that accept clients and so need token-validation keys and entry policy. */
export const ENTRY_ROLES: readonly NodeRole[] = ["entry-node"];
/** Roles that run services for organizations and so need their service configs and resource references. */
export const SERVICE_ROLES: readonly NodeRole[] = [
  "rdp-worker",
  "vnc-worker",
  "ssh-worker",
  "vpn-exit",
  "ipv4-egress",
  "vpn-connector",
  "file-storage-cache",
  "update-cache",
];
/** Service roles that adapt one resource protocol. */
export const ROLE_PROTOCOL: Partial<Record<NodeRole, "rdp" | "vnc" | "ssh">> = { "rdp-worker": "rdp", "vnc-worker": "vnc", "ssh-worker": "ssh" };
/** The adapter role that serves each resource protocol (the inverse of ROLE_PROTOCOL). */
export const PROTOCOL_ROLE: Record<"rdp" | "vnc" | "ssh", NodeRole> = { rdp: "rdp-worker", vnc: "vnc-worker", ssh: "ssh-worker" };

export function missingCapability(role: NodeRole, capabilities: Record<string, boolean>): Capability | null {
  const needed = ROLE_REQUIRES[role];
  return capabilities[needed] === true ? null : needed;
}

export const HEARTBEAT_INTERVAL_SECONDS = 30;

/** Node liveness: a node silent this long is stale, and this long offline (durable timer `liveness`). */
export const LIVENESS_TIMER = "liveness";
export const STALE_AFTER_MS = 90_000;
export const OFFLINE_AFTER_MS = 300_000;
