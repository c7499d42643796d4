/**
 * Node capabilities and roles: the capability a node must report before it
 * may be given each role. Plain data, shared by the control plane, the agent
 * and the browser console (which imports only core/contracts).
 */
export const CAPABILITIES = [
  "can_accept_client_ingress",
  "can_accept_node_ingress",
  "can_route_mesh",
  "can_egress_internet",
  "can_egress_private_network",
  "can_run_rdp_worker",
  "can_run_vnc_worker",
  "can_run_ssh_worker",
  "can_run_vpn_exit",
  "can_run_vpn_connector",
  "can_run_vpn_client",
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
  "ssh-worker": "can_run_ssh_worker",
  "vpn-exit": "can_run_vpn_exit",
  "ipv4-egress": "can_egress_internet",
  "vpn-connector": "can_run_vpn_connector",
  /** The Linux IP tunnel client (docs/vpn.md "Clients"): a TUN adapter and the authorized routes of its organization's connections. */
  "vpn-client": "can_run_vpn_client",
  "file-storage-cache": "can_run_file_cache",
  "update-cache": "can_run_update_cache",
  "video-relay": "can_run_video_relay",
} as const satisfies Record<string, Capability>;
export type NodeRole = keyof typeof ROLE_REQUIRES;
export const NODE_ROLES = Object.keys(ROLE_REQUIRES) as NodeRole[];
export const isNodeRole = (s: string): s is NodeRole => Object.hasOwn(ROLE_REQUIRES, s);
