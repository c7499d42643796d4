/**
 * Where a VPN connection runs: the spec's node selection rules (§9.1 "Node
 * Selection Strategy", "Session Stickiness", "Graceful Node Shutdown") as one
 * pure decision over facts the control plane reads (nodes, their roles,
 * heartbeats, load). The caller turns the decision into lease events.
 *
 * A node is eligible when it may run the connection's role for the
 * organization, the allowed-node policy names it (or allows any capable
 * node), its region passes the hard rule, it is in service (not draining,
 * disabled, pending or revoked) and it is healthy with a recent heartbeat.
 * Among eligible nodes: preferred regions first (the soft rule), then the
 * least loaded, then the node id so the choice is stable. A healthy owner
 * that policy still allows is kept (stickiness), even when a "better" node
 * appears; a draining owner is asked to hand over; an owner policy no longer
 * allows, or one out of service, is fenced.
 */
export interface VpnCandidate {
  nodeId: string;
  /** The node's region (its own fact, else its cluster's); null: unknown. */
  region: string | null;
  /** The node actor's state: `active`, `draining`, `disabled`, `pending`, `revoked`. */
  status: string;
  health: "healthy" | "stale" | "offline" | string;
  lastHeartbeatAt: string | null;
  /** Holds the connection's role for its organization (or platform-wide) and reports the capability. */
  authorized: boolean;
  /** VPN connections it already runs as owner (load). */
  activeConnections: number;
}

export interface VpnPlacementRules {
  allowedNodes: { mode: "any" } | { mode: "list"; nodeIds: string[] };
  allowedRegions: string[];
  preferredRegions: string[];
  standby: boolean;
}

export interface PlacementInput {
  rules: VpnPlacementRules;
  enabled: boolean;
  candidates: VpnCandidate[];
  owner: string | null;
  standby: string | null;
  now: Date;
  /** A heartbeat older than this makes a node ineligible for new ownership. */
  heartbeatFreshMs: number;
}

export type Ineligible = "not_authorized" | "not_allowed" | "region_not_allowed" | "not_in_service" | "draining" | "unhealthy";

export interface PlacementDecision {
  /** Who should own the connection: the kept owner, a new one (when the lease is vacant), or null. */
  owner: string | null;
  /** Who should stand by (never the owner), or null. */
  standby: string | null;
  /** What to do with the current owner. */
  ownerAction: "none" | "keep" | "hand_over" | "fence";
  /** Why the current owner is handed over or fenced. */
  ownerReason: Ineligible | "disabled" | null;
  /** Why each node not chosen is not eligible (the console's "why not"). */
  excluded: Record<string, Ineligible>;
}

export function whyIneligible(c: VpnCandidate, rules: VpnPlacementRules, now: Date, freshMs: number): Ineligible | null {
  if (!c.authorized) return "not_authorized";
  if (rules.allowedNodes.mode === "list" && !rules.allowedNodes.nodeIds.includes(c.nodeId)) return "not_allowed";
  if (rules.allowedRegions.length > 0 && (c.region === null || !rules.allowedRegions.includes(c.region))) return "region_not_allowed";
  if (c.status === "draining") return "draining";
  if (c.status !== "active") return "not_in_service";
  const fresh = c.lastHeartbeatAt !== null && now.getTime() - Date.parse(c.lastHeartbeatAt) <= freshMs;
  if (c.health !== "healthy" || !fresh) return "unhealthy";
  return null;
}

/** Preferred regions first, then the least loaded, then the id. */
function rank(rules: VpnPlacementRules, list: VpnCandidate[]): VpnCandidate[] {
  const preferred = (c: VpnCandidate) => (c.region !== null && rules.preferredRegions.includes(c.region) ? 0 : 1);
  return [...list].sort((a, b) => preferred(a) - preferred(b) || a.activeConnections - b.activeConnections || a.nodeId.localeCompare(b.nodeId));
}

export function placeVpnConnection(i: PlacementInput): PlacementDecision {
  const excluded: Record<string, Ineligible> = {};
  const eligible: VpnCandidate[] = [];
  for (const c of i.candidates) {
    const why = whyIneligible(c, i.rules, i.now, i.heartbeatFreshMs);
    if (why) excluded[c.nodeId] = why;
    else eligible.push(c);
  }
  if (!i.enabled) {
    return { owner: null, standby: null, ownerAction: i.owner ? "fence" : "none", ownerReason: i.owner ? "disabled" : null, excluded };
  }
  const ranked = rank(i.rules, eligible);
  let owner: string | null = null;
  let ownerAction: PlacementDecision["ownerAction"] = "none";
  let ownerReason: PlacementDecision["ownerReason"] = null;
  if (i.owner) {
    const current = i.candidates.find((c) => c.nodeId === i.owner);
    const why = current ? excluded[i.owner] : "not_in_service";
    // An owner that only missed heartbeats keeps its lease while it renews: renewals are its liveness for this connection.
    if (!why || why === "unhealthy") {
      owner = i.owner;
      ownerAction = "keep";
    } else if (why === "draining") {
      ownerAction = "hand_over";
      ownerReason = why;
    } else {
      ownerAction = "fence";
      ownerReason = why;
    }
  } else {
    owner = ranked[0]?.nodeId ?? null;
  }
  const standby = i.rules.standby ? (ranked.find((c) => c.nodeId !== (owner ?? i.owner))?.nodeId ?? null) : null;
  return { owner, standby, ownerAction, ownerReason, excluded };
}
