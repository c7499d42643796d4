/** Pure transition tests of the VPN connection: create enabled or disabled, update, disable/enable, delete only when disabled. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { vpnConnectionMachine, type VpnConfig, type VpnConnectionContext, type VpnConnectionEvent } from "./machine.ts";

const config: VpnConfig = {
  name: "office",
  target: { site: "Berlin office", address: "198.51.100.7", port: 51820 },
  allowedNodes: { mode: "any" },
  mode: "single_active",
  routing: { allowedCidrs: ["10.20.0.0/16"], deniedCidrs: ["10.20.9.0/24"], dnsRoutes: [], services: ["ip_tunnel"], resourceIds: [], internetEgress: false },
  placement: { allowedRegions: ["eu"], preferredRegions: ["eu-central"], standby: true },
  bandwidth: { maxMbps: 200, perClientMbps: null },
};
const create = (enabled = true): VpnConnectionEvent => ({ type: "vpn.create", organizationId: "o1", config, enabled });
const ALL: VpnConnectionEvent[] = [
  create(),
  { type: "vpn.update", config, secretChanged: false },
  { type: "vpn.disable", reason: "x" },
  { type: "vpn.enable" },
  { type: "vpn.delete" },
];

function run(...events: VpnConnectionEvent[]): AnyMachineSnapshot {
  let [s] = initialTransition(vpnConnectionMachine);
  for (const e of events) {
    expect({ event: e.type, accepted: s.can(e) }).toEqual({ event: e.type, accepted: true });
    [s] = transition(vpnConnectionMachine, s, e);
  }
  return s;
}
const accepted = (s: AnyMachineSnapshot) =>
  ALL.filter((e) => s.can(e))
    .map((e) => e.type)
    .sort();
const ctx = (s: AnyMachineSnapshot) => s.context as VpnConnectionContext;

describe("VPN connection machine", () => {
  test("created enabled or disabled, with its whole configuration and the first secret version", () => {
    const s = run(create());
    expect(s.value).toBe("enabled");
    expect(ctx(s)).toMatchObject({ organizationId: "o1", name: "office", secretVersion: 1, routing: config.routing });
    expect(run(create(false)).value).toBe("disabled");
    expect(accepted(s)).toEqual(["vpn.disable", "vpn.update"]);
  });

  test("an update replaces the configuration; a new secret bumps its version", () => {
    const s = run(create(), { type: "vpn.update", config: { ...config, name: "office-2" }, secretChanged: true });
    expect(ctx(s)).toMatchObject({ name: "office-2", secretVersion: 2 });
    expect(ctx(run(create(), { type: "vpn.update", config, secretChanged: false })).secretVersion).toBe(1);
  });

  test("disable keeps the reason, enable clears it; delete only from disabled, and it is final", () => {
    const disabled = run(create(), { type: "vpn.disable", reason: "maintenance" });
    expect(ctx(disabled).disabledReason).toBe("maintenance");
    expect(accepted(disabled)).toEqual(["vpn.delete", "vpn.enable", "vpn.update"]);
    expect(ctx(run(create(), { type: "vpn.disable", reason: "m" }, { type: "vpn.enable" })).disabledReason).toBeNull();
    const deleted = run(create(), { type: "vpn.disable", reason: "m" }, { type: "vpn.delete" });
    expect(deleted.status).toBe("done");
    expect(accepted(deleted)).toEqual([]);
  });
});
