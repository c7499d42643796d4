/** The history checker on made-up runs: good ones pass, each kind of breach is found with the events that prove it. */
import { describe, expect, test } from "../../fixtures/test.ts";
import type { VpnHistoryEvent } from "../contracts/vpn.ts";
import { checkVpnHistory } from "./history.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
type Kind = VpnHistoryEvent["kind"];
/** `ev("lease.granted", "a", 1, 0, { expires: 10 })`: node a, epoch 1, at second 0, lease until second 10. */
function ev(kind: Kind, node: string, epoch: number, s: number, o: { expires?: number; conn?: string; reason?: string } = {}): VpnHistoryEvent {
  return {
    kind,
    connection_id: o.conn ?? "c1",
    node_id: node,
    epoch,
    at: at(s),
    ...(o.expires !== undefined ? { expires_at: at(o.expires) } : {}),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}
const codes = (events: VpnHistoryEvent[], tolerance = 0) => checkVpnHistory(events, { toleranceMs: tolerance }).map((v) => v.code);

/** A clean failover: a owns epoch 1, stops renewing, stops forwarding before expiry, b takes epoch 2 after it. */
const failover: VpnHistoryEvent[] = [
  ev("lease.granted", "a", 1, 0, { expires: 9 }),
  ev("forward.started", "a", 1, 0.1),
  ev("lease.renewed", "a", 1, 3, { expires: 12 }),
  ev("forward.packet", "a", 1, 5),
  ev("forward.stopped", "a", 1, 11, { reason: "cannot_renew" }),
  ev("lease.expired", "a", 1, 12),
  ev("lease.granted", "b", 2, 12, { expires: 21 }),
  ev("forward.started", "b", 2, 12.2),
  ev("forward.packet", "b", 2, 13),
];

describe("VPN history checker: good histories pass", () => {
  test("a failover after expiry, with the old owner stopped in time", () => {
    expect(checkVpnHistory(failover)).toEqual([]);
  });

  test("a drain: the owner releases, stops, and the next owner starts at once", () => {
    expect(
      codes([
        ev("lease.granted", "a", 1, 0, { expires: 9 }),
        ev("forward.started", "a", 1, 0),
        ev("forward.stopped", "a", 1, 4, { reason: "released" }),
        ev("lease.released", "a", 1, 4),
        ev("lease.granted", "b", 2, 4, { expires: 13 }),
        ev("forward.started", "b", 2, 4),
      ]),
    ).toEqual([]);
  });

  test("a fence waits for the fenced lease to run out; the fenced owner stops by then", () => {
    expect(
      codes([
        ev("lease.granted", "a", 1, 0, { expires: 9 }),
        ev("forward.started", "a", 1, 0),
        ev("lease.fenced", "a", 1, 2, { expires: 9, reason: "node_lost" }),
        ev("forward.stopped", "a", 1, 8),
        ev("lease.granted", "b", 2, 9, { expires: 18 }),
        ev("forward.packet", "b", 2, 10),
      ]),
    ).toEqual([]);
  });

  test("two connections are judged apart, and forwarding still open at the end is fine while its lease runs", () => {
    const other = failover.map((e) => ({ ...e, connection_id: "c2" }));
    expect(checkVpnHistory([...failover, ...other], { until: at(15) })).toEqual([]);
  });

  test("events given out of order are read in time order", () => {
    expect(checkVpnHistory([...failover].reverse())).toEqual([]);
  });

  test("a late forwarding fact within the tolerance is not a breach", () => {
    const late = [ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("forward.packet", "a", 1, 9.5), ev("lease.expired", "a", 1, 9)];
    expect(codes(late, 1000)).toEqual([]);
    expect(codes(late, 0)).toEqual(["forwarded_after_lease_end"]);
  });
});

describe("VPN history checker: each breach is found with its proof", () => {
  test("two owners: a grant before the previous lease ran out", () => {
    const found = checkVpnHistory([ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("lease.granted", "b", 2, 5, { expires: 14 })]);
    expect(found.map((v) => v.code)).toEqual(["overlapping_owners"]);
    expect(found[0]!.events.map((e) => [e.kind, e.node_id, e.epoch])).toEqual([
      ["lease.granted", "a", 1],
      ["lease.granted", "b", 2],
    ]);
  });

  test("two owners: a renewal pushed the old lease past the new grant", () => {
    const found = checkVpnHistory([
      ev("lease.granted", "a", 1, 0, { expires: 9 }),
      ev("lease.renewed", "a", 1, 6, { expires: 15 }),
      ev("lease.granted", "b", 2, 10, { expires: 19 }),
    ]);
    expect(found.map((v) => v.code)).toEqual(["overlapping_owners"]);
    expect(found[0]!.events[0]!.kind).toBe("lease.renewed");
  });

  test("two nodes forwarding at once, even when the lease facts look clean", () => {
    const found = checkVpnHistory([
      ...failover.slice(0, 4),
      ev("lease.expired", "a", 1, 12),
      ev("lease.granted", "b", 2, 12, { expires: 21 }),
      ev("forward.started", "b", 2, 12),
      ev("forward.packet", "a", 1, 12.5),
    ]);
    expect([...new Set(found.map((v) => v.code))].sort()).toEqual(["concurrent_forwarders", "forwarded_after_lease_end"]);
    expect(found.filter((v) => v.code === "concurrent_forwarders")).toHaveLength(1);
    const both = found.find((v) => v.code === "concurrent_forwarders")!;
    expect(new Set(both.events.map((e) => e.node_id))).toEqual(new Set(["a", "b"]));
  });

  test("a fenced owner forwarded after its fence took effect", () => {
    const found = checkVpnHistory([
      ev("lease.granted", "a", 1, 0, { expires: 9 }),
      ev("forward.started", "a", 1, 0),
      ev("lease.fenced", "a", 1, 3, { expires: 3, reason: "renewal_refused" }),
      ev("forward.packet", "a", 1, 4),
    ]);
    expect(found.map((v) => v.code)).toEqual(["forwarded_after_lease_end", "forwarded_after_lease_end"]);
    expect(found.every((v) => v.events.some((e) => e.kind === "lease.fenced"))).toBe(true);
  });

  test("an owner that never stopped: an open forwarding past expiry", () => {
    const run = [ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("forward.started", "a", 1, 0), ev("lease.expired", "a", 1, 9)];
    expect(checkVpnHistory(run, { until: at(10) }).map((v) => v.code)).toEqual(["forwarded_after_lease_end"]);
    expect(checkVpnHistory(run, { until: at(9) })).toEqual([]);
  });

  test("epochs going backwards or repeating", () => {
    const back = [
      ev("lease.granted", "a", 2, 0, { expires: 9 }),
      ev("lease.expired", "a", 2, 9),
      ev("lease.granted", "b", 1, 10, { expires: 19 }),
      ev("lease.expired", "b", 1, 19),
      ev("lease.granted", "c", 1, 20, { expires: 29 }),
    ];
    expect(codes(back)).toEqual(["epoch_not_increasing", "epoch_not_increasing"]);
  });

  test("a stale owner's renewal that was accepted: after a newer grant, by another node, after the end", () => {
    const grants = [ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("lease.expired", "a", 1, 9), ev("lease.granted", "b", 2, 9, { expires: 18 })];
    expect(codes([...grants, ev("lease.renewed", "a", 1, 10, { expires: 19 })])).toEqual(["stale_renewal"]);
    expect(codes([...grants, ev("lease.renewed", "a", 2, 10, { expires: 19 })])).toEqual(["stale_renewal"]);
    expect(codes([ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("lease.renewed", "a", 1, 9.5, { expires: 18 })])).toEqual(["stale_renewal"]);
  });

  test("forwarding under an epoch never granted, or granted to someone else", () => {
    expect(codes([ev("forward.packet", "a", 3, 1)])).toEqual(["forwarded_without_lease"]);
    expect(codes([ev("lease.granted", "a", 1, 0, { expires: 9 }), ev("forward.packet", "b", 1, 1)])).toEqual(["forwarded_without_lease"]);
    expect(codes([ev("lease.renewed", "a", 4, 1, { expires: 9 })])).toEqual(["unknown_epoch"]);
  });
});
