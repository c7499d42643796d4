/** Node roles and the capability each needs (mirrors core/fabric.ts, which web/ may not import). */
export const ROLE_REQUIRES: Record<string, string> = {
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
};
export const ROLES = Object.keys(ROLE_REQUIRES);
