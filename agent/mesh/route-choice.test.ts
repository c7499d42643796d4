import { describe, expect, test } from "../../fixtures/test.ts";
import { chooseRoute, initialRouteState, type RouteInput } from "./route-choice.ts";

const thresholds = { minFlowMs: 60_000, minRouteLatencyMs: 20, minGain: 0.2 };
const input = (over: Partial<RouteInput> = {}): RouteInput => ({
  path: undefined,
  direct: false,
  firstHopUp: () => true,
  isBad: () => false,
  relayedRttMs: null,
  directRttMs: null,
  thresholds,
  now: 1_000_000,
  ...over,
});

describe("route choice", () => {
  test("no signed path: direct when a channel works, unreachable otherwise", () => {
    expect(chooseRoute(initialRouteState(0), input({ direct: true }))).toMatchObject({ changed: true, state: { current: [] } });
    const none = chooseRoute(initialRouteState(0), input());
    expect(none.state.current).toBeNull();
    expect(none.changed).toBe(false);
  });

  test("a signed path is used; when its first relay is down the first alternate with an up first relay takes over", () => {
    const path = { via: ["r1"], alternates: [["r2"], ["r3", "r4"]] };
    const first = chooseRoute(initialRouteState(0), input({ path }));
    expect(first.state.current).toEqual(["r1"]);
    const failover = chooseRoute(first.state, input({ path, firstHopUp: (r) => r !== "r1" && r !== "r2", now: 1_000_500 }));
    expect(failover).toMatchObject({ changed: true, state: { current: ["r3", "r4"], since: 1_000_500 } });
    // A path that failed its pings is skipped while another is up, and used when it is the only one.
    expect(chooseRoute(first.state, input({ path, isBad: (via) => via[0] === "r1" })).state.current).toEqual(["r2"]);
    expect(chooseRoute(first.state, input({ path: { via: ["r1"] }, isBad: () => true })).state.current).toEqual(["r1"]);
    // No relay up and no direct channel: unreachable.
    expect(chooseRoute(first.state, input({ path, firstHopUp: () => false })).state.current).toBeNull();
  });

  test("a shortcut needs every condition; it is dropped for the relay path the moment the direct channel fails", () => {
    const path = { via: ["r1"] };
    const start = chooseRoute(initialRouteState(0), input({ path, now: 0 })).state;
    expect(start.relayedSince).toBe(0);
    const good = { path, direct: true, relayedRttMs: 40, directRttMs: 10 };
    // Too young a flow, too fast a relay path, or a direct path that is not better: no shortcut.
    expect(chooseRoute(start, input({ ...good, now: 30_000 })).state.shortcut).toBe(false);
    expect(chooseRoute(start, input({ ...good, relayedRttMs: 5, now: 61_000 })).state.shortcut).toBe(false);
    expect(chooseRoute(start, input({ ...good, directRttMs: 39, now: 61_000 })).state.shortcut).toBe(false);
    const cut = chooseRoute(start, input({ ...good, now: 61_000 }));
    expect(cut).toMatchObject({ changed: true, state: { current: [], shortcut: true, shortcutSince: 61_000 } });
    expect(cut.events).toEqual([{ type: "shortcut_created", replaces: ["r1"] }]);
    const back = chooseRoute(cut.state, input({ path, direct: false, now: 62_000 }));
    expect(back).toMatchObject({ changed: true, state: { current: ["r1"], shortcut: false, shortcutSince: null } });
    expect(back.events).toEqual([{ type: "shortcut_removed", back_to: ["r1"] }]);
  });

  test("a pinned path (route intent) is never shortcut", () => {
    const path = { via: ["r1"], pinned: true };
    const start = chooseRoute(initialRouteState(0), input({ path, now: 0 })).state;
    const later = chooseRoute(start, input({ path, direct: true, relayedRttMs: 40, directRttMs: 1, now: 600_000 }));
    expect(later.state).toMatchObject({ current: ["r1"], shortcut: false });
  });
});
