/**
 * Fabric vocabulary shared by the control plane and rap-node-agent: node
 * roles, the capability each one needs, and which snapshot sections a role
 * may see. Capabilities are reported facts; roles are explicit grants.
 */
export const CAPABILITIES = [
  "can_accept_client_ingress",
  "can_accept_node_ingress",
  "can_route_mesh",
  "can_egress_internet",
  "can_egress_private_network",
  "can_run_rdp_worker",
  "can_run_vnc_worker",
  "can_run_vpn_exit",
  "can_run_vpn_connector",
  "can_run_file_cache",
  "can_run_update_cache",
  "can_run_video_relay",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** Each role and the capability a node must report before it may be given the role. */
export const ROLE_REQUIRES = {
  "entry-node": "can_accept_client_ingress",
  "relay-node": "can_route_mesh",
  "rdp-worker": "can_run_rdp_worker",
  "vnc-worker": "can_run_vnc_worker",
  "vpn-exit": "can_run_vpn_exit",
  "ipv4-egress": "can_egress_internet",
  "vpn-connector": "can_run_vpn_connector",
  "file-storage-cache": "can_run_file_cache",
  "update-cache": "can_run_update_cache",
  "video-relay": "can_run_video_relay",
} as const satisfies Record<string, Capability>;
export type NodeRole = keyof typeof ROLE_REQUIRES;
export const NODE_ROLES = Object.keys(ROLE_REQUIRES) as NodeRole[];

/** Roles that carry mesh traffic and so need peers and route/QoS policy. */
export const MESH_ROLES: readonly NodeRole[] = ["entry-node", "relay-node", "video-relay"];
/** Roles that accept clients and so need token-validation keys and entry policy. */
export const ENTRY_ROLES: readonly NodeRole[] = ["entry-node"];
/** Roles that run services for organizations and so need their service configs and resource references. */
export const SERVICE_ROLES: readonly NodeRole[] = ["rdp-worker", "vnc-worker", "vpn-exit", "ipv4-egress", "vpn-connector", "file-storage-cache", "update-cache"];
/** Service roles that adapt one resource protocol. */
export const ROLE_PROTOCOL: Partial<Record<NodeRole, "rdp" | "vnc" | "ssh">> = { "rdp-worker": "rdp", "vnc-worker": "vnc" };

export function missingCapability(role: NodeRole, capabilities: Record<string, boolean>): Capability | null {
  const needed = ROLE_REQUIRES[role];
  return capabilities[needed] === true ? null : needed;
}

export const HEARTBEAT_INTERVAL_SECONDS = 30;

/** Node liveness: a node silent this long is stale, and this long offline (durable timer `liveness`). */
export const LIVENESS_TIMER = "liveness";
export const STALE_AFTER_MS = 90_000;
export const OFFLINE_AFTER_MS = 300_000;
