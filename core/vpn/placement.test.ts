/** Placement rules: authorization, allowed nodes, hard and soft regions, health, load, draining, stickiness, standby. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { placeVpnConnection, type PlacementInput, type VpnCandidate } from "./placement.ts";

const now = new Date("2026-01-01T00:10:00Z");
const node = (nodeId: string, o: Partial<VpnCandidate> = {}): VpnCandidate => ({
  nodeId,
  region: "eu-central",
  status: "active",
  health: "healthy",
  lastHeartbeatAt: "2026-01-01T00:09:50Z",
  authorized: true,
  activeConnections: 0,
  ...o,
});
const input = (candidates: VpnCandidate[], o: Partial<PlacementInput> = {}): PlacementInput => ({
  rules: { allowedNodes: { mode: "any" }, allowedRegions: [], preferredRegions: [], standby: true },
  enabled: true,
  candidates,
  owner: null,
  standby: null,
  now,
  heartbeatFreshMs: 90_000,
  ...o,
});

describe("VPN placement", () => {
  test("each rule excludes a node, with the reason", () => {
    const d = placeVpnConnection(
      input(
        [
          node("ok"),
          node("role", { authorized: false }),
          node("region", { region: "us-east" }),
          node("drain", { status: "draining" }),
          node("off", { status: "disabled" }),
          node("sick", { health: "stale" }),
          node("silent", { lastHeartbeatAt: "2026-01-01T00:05:00Z" }),
          node("never", { lastHeartbeatAt: null }),
          node("unlisted"),
        ],
        {
          rules: {
            allowedNodes: { mode: "list", nodeIds: ["ok", "role", "region", "drain", "off", "sick", "silent", "never"] },
            allowedRegions: ["eu-central"],
            preferredRegions: [],
            standby: true,
          },
        },
      ),
    );
    expect(d.owner).toBe("ok");
    expect(d.standby).toBeNull();
    expect(d.excluded).toEqual({
      role: "not_authorized",
      region: "region_not_allowed",
      drain: "draining",
      off: "not_in_service",
      sick: "unhealthy",
      silent: "unhealthy",
      never: "unhealthy",
      unlisted: "not_allowed",
    });
  });

  test("preferred regions win over load; then the least loaded; then the id", () => {
    const rules = { allowedNodes: { mode: "any" as const }, allowedRegions: [], preferredRegions: ["eu-west"], standby: true };
    const d = placeVpnConnection(
      input([node("a", { activeConnections: 0 }), node("b", { region: "eu-west", activeConnections: 5 }), node("c", { activeConnections: 1 })], { rules }),
    );
    expect([d.owner, d.standby]).toEqual(["b", "a"]);
    expect(placeVpnConnection(input([node("z"), node("y")])).owner).toBe("y");
  });

  test("a soft preference still fails over elsewhere; a hard rule does not", () => {
    const soft = { allowedNodes: { mode: "any" as const }, allowedRegions: [], preferredRegions: ["eu-west"], standby: false };
    expect(placeVpnConnection(input([node("a", { region: "us-east" })], { rules: soft })).owner).toBe("a");
    const hard = { ...soft, allowedRegions: ["eu-west"] };
    expect(placeVpnConnection(input([node("a", { region: "us-east" }), node("b", { region: null })], { rules: hard })).owner).toBeNull();
  });

  test("stickiness: a healthy allowed owner is kept even when a less loaded or preferred node exists", () => {
    const rules = { allowedNodes: { mode: "any" as const }, allowedRegions: [], preferredRegions: ["eu-west"], standby: true };
    const d = placeVpnConnection(input([node("busy", { activeConnections: 9 }), node("better", { region: "eu-west" })], { rules, owner: "busy" }));
    expect(d).toMatchObject({ owner: "busy", ownerAction: "keep", standby: "better" });
  });

  test("an owner that only missed heartbeats is kept while it renews; a draining one hands over; a disallowed or disabled one is fenced", () => {
    expect(placeVpnConnection(input([node("a", { health: "stale" }), node("b")], { owner: "a" }))).toMatchObject({
      owner: "a",
      ownerAction: "keep",
      standby: "b",
    });
    expect(placeVpnConnection(input([node("a", { status: "draining" }), node("b")], { owner: "a" }))).toMatchObject({
      owner: null,
      ownerAction: "hand_over",
      ownerReason: "draining",
      standby: "b",
    });
    const listed = { allowedNodes: { mode: "list" as const, nodeIds: ["b"] }, allowedRegions: [], preferredRegions: [], standby: true };
    expect(placeVpnConnection(input([node("a"), node("b")], { owner: "a", rules: listed }))).toMatchObject({
      ownerAction: "fence",
      ownerReason: "not_allowed",
      standby: "b",
    });
    expect(placeVpnConnection(input([node("a", { status: "disabled" })], { owner: "a" }))).toMatchObject({
      ownerAction: "fence",
      ownerReason: "not_in_service",
    });
    expect(placeVpnConnection(input([node("b")], { owner: "gone" }))).toMatchObject({ ownerAction: "fence", standby: "b" });
  });

  test("a disabled connection places nobody and fences its owner; no standby when the policy wants none", () => {
    expect(placeVpnConnection(input([node("a"), node("b")], { owner: "a", enabled: false }))).toMatchObject({
      owner: null,
      standby: null,
      ownerAction: "fence",
      ownerReason: "disabled",
    });
    const noStandby = { allowedNodes: { mode: "any" as const }, allowedRegions: [], preferredRegions: [], standby: false };
    expect(placeVpnConnection(input([node("a"), node("b")], { rules: noStandby }))).toMatchObject({ owner: "a", standby: null });
  });
});
