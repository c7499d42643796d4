/**
 * The VPN history checker: reads what the control plane and the agents
 * recorded about one or more VPN connections (core/contracts/vpn.ts) and
 * returns every way the run broke single-active ownership, each with the
 * events that prove it. Pure: the failover tests feed it their recorded
 * runs; an empty answer is the proof that no two owners ever forwarded at
 * once.
 *
 * The rules (docs/vpn.md, "Lease and fencing"):
 * - epochs of one connection are granted in strictly increasing order;
 * - a lease lasts from its grant to its end: the owner's release, else its
 *   last `expires_at` (a fence takes effect when the fenced lease runs out,
 *   because the owner may not hear of it sooner); a new grant before the
 *   previous lease's end is two owners at once;
 * - a renewal belongs to the current epoch, its owner, and a lease that has
 *   not ended;
 * - a node forwards only under an epoch it was granted, and only until that
 *   lease's end (its release, fence or expiry, whichever comes first);
 * - no two nodes forward for one connection at the same time.
 * `toleranceMs` absorbs the clock difference between recorders (the agent's
 * clock drift allowance): a forwarding fact up to that late is not a breach.
 */
import type { VpnHistoryEvent } from "../contracts/vpn.ts";

export type VpnViolationCode =
  | "epoch_not_increasing"
  | "overlapping_owners"
  | "stale_renewal"
  | "unknown_epoch"
  | "forwarded_without_lease"
  | "forwarded_after_lease_end"
  | "concurrent_forwarders";

export interface VpnViolation {
  code: VpnViolationCode;
  connection_id: string;
  message: string;
  /** The recorded events that prove it, in time order. */
  events: VpnHistoryEvent[];
}

export interface CheckOptions {
  /** How late a forwarding fact may be recorded past its lease's end (clock drift between recorders). Default 0. */
  toleranceMs?: number;
  /** Where forwarding still open at the end of the history is taken to last until (ISO); default the last event's time. */
  until?: string;
}

interface Lease {
  epoch: number;
  node: string;
  grant: VpnHistoryEvent;
  /** The grant or renewal that set the current `expires_at`. */
  lastExtension: VpnHistoryEvent;
  expiresAt: number;
  /** The event that ended the lease for its owner (release, fence, expiry) and the time it takes effect. */
  end?: { event: VpnHistoryEvent; at: number };
}

interface Forwarding {
  node: string;
  epoch: number;
  from: number;
  to: number;
  /** A single forwarded packet: an instant, not a half-open interval. */
  point: boolean;
  /** The start (or the packet) and, when recorded, the stop. */
  proof: VpnHistoryEvent[];
}

const ms = (iso: string | undefined): number => (iso === undefined ? Number.NaN : Date.parse(iso));

export function checkVpnHistory(events: readonly VpnHistoryEvent[], o: CheckOptions = {}): VpnViolation[] {
  const byConnection = new Map<string, VpnHistoryEvent[]>();
  for (const e of events) byConnection.set(e.connection_id, [...(byConnection.get(e.connection_id) ?? []), e]);
  const lastAt = Math.max(...events.map((e) => ms(e.at)));
  const until = o.until ? ms(o.until) : lastAt;
  return [...byConnection.entries()].flatMap(([id, list]) => checkConnection(id, sortByTime(list), o.toleranceMs ?? 0, until));
}

/** Stable sort by time: facts recorded at the same instant keep the order they were recorded in. */
function sortByTime(list: VpnHistoryEvent[]): VpnHistoryEvent[] {
  return list
    .map((e, i) => [e, i] as const)
    .sort(([a, i], [b, j]) => ms(a.at) - ms(b.at) || i - j)
    .map(([e]) => e);
}

function checkConnection(connectionId: string, events: VpnHistoryEvent[], tolerance: number, until: number): VpnViolation[] {
  const out: VpnViolation[] = [];
  const violation = (code: VpnViolationCode, message: string, proof: VpnHistoryEvent[]) =>
    out.push({ code, connection_id: connectionId, message, events: sortByTime(proof) });
  const leases = checkLeases(events, violation);
  const forwarding = forwardingIntervals(events, until);
  for (const f of forwarding) {
    const lease = leases.get(f.epoch);
    if (!lease || lease.node !== f.node || f.from < ms(lease.grant.at) - tolerance) {
      violation("forwarded_without_lease", `node ${f.node} forwarded under epoch ${f.epoch}, which it did not hold`, [
        ...f.proof,
        ...(lease ? [lease.grant] : []),
      ]);
      continue;
    }
    if (f.to > leaseEnd(lease) + tolerance) {
      violation("forwarded_after_lease_end", `node ${f.node} forwarded under epoch ${f.epoch} after its lease ended`, [...f.proof, endProof(lease)]);
    }
  }
  for (const [a, b] of overlappingPairs(forwarding)) {
    violation("concurrent_forwarders", `nodes ${a.node} (epoch ${a.epoch}) and ${b.node} (epoch ${b.epoch}) forwarded at the same time`, [
      ...a.proof,
      ...b.proof,
    ]);
  }
  return out;
}

/** When a lease stopped entitling its owner: its end event's time, or its last `expires_at` if that came first. */
const leaseEnd = (l: Lease): number => (l.end ? Math.min(l.end.at, l.expiresAt) : l.expiresAt);
/** The event that fixed that time. */
const endProof = (l: Lease): VpnHistoryEvent => (l.end && l.end.at <= l.expiresAt ? l.end.event : l.lastExtension);

/** Replays the control plane's lease facts; reports grants out of order or overlapping, and renewals that should have been refused. */
function checkLeases(events: VpnHistoryEvent[], violation: (code: VpnViolationCode, message: string, proof: VpnHistoryEvent[]) => void): Map<number, Lease> {
  const leases = new Map<number, Lease>();
  let current: Lease | undefined;
  for (const e of events) {
    const at = ms(e.at);
    if (e.kind === "lease.granted") {
      if (current && e.epoch <= current.epoch) {
        violation("epoch_not_increasing", `epoch ${e.epoch} granted after epoch ${current.epoch}`, [current.grant, e]);
      }
      if (current) {
        if (at < leaseEnd(current)) {
          violation("overlapping_owners", `epoch ${e.epoch} granted to ${e.node_id} while epoch ${current.epoch} of ${current.node} still ran`, [
            endProof(current),
            e,
          ]);
        }
      }
      const lease: Lease = { epoch: e.epoch, node: e.node_id, grant: e, lastExtension: e, expiresAt: ms(e.expires_at) };
      if (!current || e.epoch > current.epoch) current = lease;
      if (!leases.has(e.epoch)) leases.set(e.epoch, lease);
      continue;
    }
    if (!e.kind.startsWith("lease.")) continue;
    const lease = leases.get(e.epoch);
    if (!lease) {
      violation("unknown_epoch", `${e.kind} for epoch ${e.epoch}, which was never granted`, [e]);
      continue;
    }
    if (e.kind === "lease.renewed") {
      const ended = lease.end !== undefined || at >= lease.expiresAt;
      if (lease !== current || lease.node !== e.node_id || ended) {
        violation("stale_renewal", `renewal of epoch ${e.epoch} by ${e.node_id} accepted though that lease was no longer current`, [
          lease.end?.event ?? lease.lastExtension,
          e,
        ]);
        continue;
      }
      lease.expiresAt = ms(e.expires_at);
      lease.lastExtension = e;
    } else if (!lease.end) {
      // A fence takes effect at its `expires_at` (the fenced lease's end, as the owner may not hear of it sooner), else at once.
      lease.end = { event: e, at: e.kind === "lease.fenced" && e.expires_at !== undefined ? ms(e.expires_at) : at };
    }
  }
  return leases;
}

/** Each node's forwarding per epoch: started..stopped intervals (open ones last until `until`) and single packets. */
function forwardingIntervals(events: VpnHistoryEvent[], until: number): Forwarding[] {
  const open = new Map<string, { start: VpnHistoryEvent; from: number }>();
  const out: Forwarding[] = [];
  for (const e of events) {
    const key = `${e.node_id}\u0000${e.epoch}`;
    const at = ms(e.at);
    if (e.kind === "forward.started") {
      if (!open.has(key)) open.set(key, { start: e, from: at });
    } else if (e.kind === "forward.stopped") {
      const o = open.get(key);
      if (o) out.push({ node: e.node_id, epoch: e.epoch, from: o.from, to: at, point: false, proof: [o.start, e] });
      open.delete(key);
    } else if (e.kind === "forward.packet") {
      out.push({ node: e.node_id, epoch: e.epoch, from: at, to: at, point: true, proof: [e] });
    }
  }
  for (const o of open.values())
    out.push({ node: o.start.node_id, epoch: o.start.epoch, from: o.from, to: Math.max(until, o.from), point: false, proof: [o.start] });
  return out;
}

/** Intervals are half-open (a stop at the instant of the other's start is a clean handover); a packet is an instant. */
function overlaps(a: Forwarding, b: Forwarding): boolean {
  if (a.point && b.point) return a.from === b.from;
  if (a.point) return b.from <= a.from && a.from < b.to;
  if (b.point) return a.from <= b.from && b.from < a.to;
  return a.from < b.to && b.from < a.to;
}

/** Pairs of forwarding by different nodes whose times overlap, one pair per two (node, epoch) forwarders. */
function overlappingPairs(list: Forwarding[]): [Forwarding, Forwarding][] {
  const pairs: [Forwarding, Forwarding][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [a, b] = [list[i]!, list[j]!];
      if (a.node === b.node || !overlaps(a, b)) continue;
      const key = [`${a.node}/${a.epoch}`, `${b.node}/${b.epoch}`].sort().join("|");
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push(a.from <= b.from ? [a, b] : [b, a]);
    }
  }
  return pairs;
}
