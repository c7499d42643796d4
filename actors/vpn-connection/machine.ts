/**
 * One VPN connection's desired configuration (§9.1 `vpn_connection`): which
 * organization, where it leads, which nodes may run it, how traffic may use
 * it, where it may be placed, how much bandwidth it may take, and whether it
 * should run at all. Pure. Who runs it now is the lease's business
 * (actors/vpn-lease); the WireGuard secret is sealed in its own table
 * (`vpn_connection_secrets`) so key rotation re-wraps it like every other
 * secret, and this context only counts its versions.
 *
 *   new ──create──▶ enabled ⇄ disabled ──delete──▶ deleted (final)
 *   update in enabled and disabled
 */
import { assign, setup } from "xstate";

export type AllowedNodes = { mode: "any" } | { mode: "list"; nodeIds: string[] };

export interface VpnRoutingPolicy {
  allowedCidrs: string[];
  deniedCidrs: string[];
  dnsRoutes: { suffix: string; servers: string[] }[];
  /** Services that may route through it (`rdp`, `ssh`, `vnc`, `http`, `ip_tunnel`). */
  services: string[];
  /** Resources that may route through it; empty: every resource of the listed services. */
  resourceIds: string[];
  internetEgress: boolean;
}

export interface VpnPlacementPolicy {
  /** Hard rule: only nodes in these regions (empty: any region). */
  allowedRegions: string[];
  /** Soft rule: nodes here are chosen first. */
  preferredRegions: string[];
  /** Whether a standby is kept ready to take over. */
  standby: boolean;
}

export interface VpnBandwidth {
  /** The connection's whole rate, megabits per second; null: no cap beyond the VPN class's share. */
  maxMbps: number | null;
  perClientMbps: number | null;
}

export interface VpnTargetEndpoint {
  site: string;
  address: string;
  port: number;
}

export interface VpnConfig {
  name: string;
  target: VpnTargetEndpoint;
  allowedNodes: AllowedNodes;
  mode: "single_active";
  routing: VpnRoutingPolicy;
  placement: VpnPlacementPolicy;
  bandwidth: VpnBandwidth;
}

export interface VpnConnectionContext extends VpnConfig {
  organizationId: string;
  /** Bumped on every new secret, so a node re-fetches it. */
  secretVersion: number;
  disabledReason: string | null;
}

export type VpnConnectionEvent =
  | { type: "vpn.create"; organizationId: string; config: VpnConfig; enabled: boolean }
  | { type: "vpn.update"; config: VpnConfig; secretChanged: boolean }
  | { type: "vpn.disable"; reason: string }
  | { type: "vpn.enable" }
  | { type: "vpn.delete" };

const UPDATE = { "vpn.update": { actions: "applyUpdate" } } as const;

export const vpnConnectionMachine = setup({
  types: {} as { context: VpnConnectionContext; events: VpnConnectionEvent },
  actions: {
    applyUpdate: assign(({ context: c, event }) =>
      event.type === "vpn.update" ? { ...event.config, secretVersion: c.secretVersion + (event.secretChanged ? 1 : 0) } : {},
    ),
  },
}).createMachine({
  id: "vpn_connection",
  initial: "new",
  context: {
    organizationId: "",
    name: "",
    target: { site: "", address: "", port: 0 },
    allowedNodes: { mode: "any" },
    mode: "single_active",
    routing: { allowedCidrs: [], deniedCidrs: [], dnsRoutes: [], services: [], resourceIds: [], internetEgress: false },
    placement: { allowedRegions: [], preferredRegions: [], standby: true },
    bandwidth: { maxMbps: null, perClientMbps: null },
    secretVersion: 0,
    disabledReason: null,
  },
  states: {
    new: {
      on: {
        "vpn.create": [
          {
            guard: ({ event }) => event.enabled,
            target: "enabled",
            actions: assign(({ event }) => ({ ...event.config, organizationId: event.organizationId, secretVersion: 1 })),
          },
          {
            target: "disabled",
            actions: assign(({ event }) => ({ ...event.config, organizationId: event.organizationId, secretVersion: 1, disabledReason: "created_disabled" })),
          },
        ],
      },
    },
    enabled: {
      on: {
        ...UPDATE,
        "vpn.disable": { target: "disabled", actions: assign(({ event }) => ({ disabledReason: event.reason })) },
      },
    },
    disabled: {
      on: {
        ...UPDATE,
        "vpn.enable": { target: "enabled", actions: assign({ disabledReason: null }) },
        "vpn.delete": "deleted",
      },
    },
    deleted: { type: "final" },
  },
});
