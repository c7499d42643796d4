/** Routes: direct, one- and two-relay paths, relay-only transit, failover through the cache, shortcut conditions. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { activePath, findRoute, RouteCache, shortcutBlockers, type Directory, type Link } from "./routes.ts";

const link = (from: string, to: string, latencyMs: number, loss = 0, up = true): Link[] => [
  { from, to, latencyMs, loss, up },
  { from: to, to: from, latencyMs, loss, up },
];

describe("findRoute", () => {
  test("direct when a direct link exists", () => {
    const dir: Directory = { relays: new Set(), links: link("a", "b", 10) };
    expect(findRoute(dir, "a", "b", "input")).toEqual({ path: ["a", "b"], latencyMs: 10, loss: 0, relays: 0 });
  });

  test("one relay, then two relays, and never through a node that is not a relay", () => {
    const one: Directory = { relays: new Set(["r1"]), links: [...link("a", "r1", 5), ...link("r1", "b", 5)] };
    expect(findRoute(one, "a", "b", "input")!.path).toEqual(["a", "r1", "b"]);
    const two: Directory = { relays: new Set(["r1", "r2"]), links: [...link("a", "r1", 5), ...link("r1", "r2", 5), ...link("r2", "b", 5)] };
    expect(findRoute(two, "a", "b", "input")!.path).toEqual(["a", "r1", "r2", "b"]);
    const transit: Directory = { relays: new Set(), links: [...link("a", "x", 5), ...link("x", "b", 5)] };
    expect(findRoute(transit, "a", "b", "input")).toBeNull();
    expect(findRoute(two, "a", "b", "input", 1)).toBeNull();
  });

  test("interactive classes avoid lossy links; down links are never used", () => {
    const dir: Directory = {
      relays: new Set(["r1", "r2"]),
      links: [...link("a", "r1", 5, 0.05), ...link("r1", "b", 5, 0.05), ...link("a", "r2", 8), ...link("r2", "b", 8)],
    };
    expect(findRoute(dir, "a", "b", "input")!.path).toEqual(["a", "r2", "b"]);
    const down: Directory = { relays: new Set(["r1"]), links: [...link("a", "r1", 5), ...link("r1", "b", 5, 0, false)] };
    expect(findRoute(down, "a", "b", "input")).toBeNull();
  });
});

describe("route cache", () => {
  test("a cached route is dropped when a link on it fails, its epoch changes, or it ages out", () => {
    const cache = new RouteCache(1000);
    const route = { path: ["a", "r1", "b"], latencyMs: 10, loss: 0, relays: 1 };
    cache.put("b", "input", route, 7, 0);
    expect(cache.get("b", "input", 7, 10)).toEqual(route);
    expect(cache.get("b", "input", 8, 10)).toBeUndefined();
    expect(cache.get("b", "input", 7, 1000)).toBeUndefined();
    expect(cache.linkFailed("r1", "b")).toBe(1);
    expect(cache.get("b", "input", 7, 10)).toBeUndefined();
  });
});

describe("shortcuts", () => {
  const route = { path: ["a", "r1", "r2", "b"], latencyMs: 60, loss: 0.01, relays: 2 };
  const ok = { route, direct: { latencyMs: 20, loss: 0 }, flowAgeMs: 120_000, policy: { allowShortcut: true, allowDirectPeer: true }, peerTrusted: true };

  test("created only when every condition holds", () => {
    expect(shortcutBlockers(ok)).toEqual([]);
    expect(shortcutBlockers({ ...ok, flowAgeMs: 1000 })).toEqual(["flow_too_young"]);
    expect(shortcutBlockers({ ...ok, direct: null })).toEqual(["direct_unreachable"]);
    expect(shortcutBlockers({ ...ok, direct: { latencyMs: 58, loss: 0.02 } })).toEqual(["no_improvement"]);
    expect(shortcutBlockers({ ...ok, policy: { allowShortcut: false, allowDirectPeer: false }, peerTrusted: false })).toEqual([
      "policy_forbids_shortcut",
      "policy_forbids_direct_peer",
      "peer_not_trusted",
    ]);
    expect(shortcutBlockers({ ...ok, route: { ...route, relays: 0, path: ["a", "b"], latencyMs: 5 } })).toEqual(["not_multi_hop", "route_latency_low"]);
  });

  test("reversible: a failed shortcut falls back to the prior route", () => {
    expect(activePath(route, { path: ["a", "b"], healthy: true })).toEqual(["a", "b"]);
    expect(activePath(route, { path: ["a", "b"], healthy: false })).toEqual(route.path);
  });
});
