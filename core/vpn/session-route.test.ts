import { describe, expect, test } from "../../fixtures/test.ts";
import { parseAddress, cidrContains, parseCidr } from "./cidr.ts";
import { type RoutingConnection, vpnRouteRefusal } from "./session-route.ts";

const ORG = "org-1";
const resource = { id: "res-1", organizationId: ORG, protocol: "ssh", targetHost: "10.77.0.10" };
const connection = (routing: Partial<RoutingConnection["routing"]> = {}, over: Partial<RoutingConnection> = {}): RoutingConnection => ({
  organizationId: ORG,
  state: "enabled",
  routing: { allowedCidrs: ["10.77.0.0/16"], deniedCidrs: ["10.77.9.0/24"], services: ["ssh", "ip_tunnel"], resourceIds: [], ...routing },
  ...over,
});

describe("may a resource route its sessions through a VPN connection", () => {
  test("an SSH resource inside the allowed ranges, with the service allowed, may", () => {
    expect(vpnRouteRefusal(resource, connection())).toBeNull();
    expect(vpnRouteRefusal(resource, connection({ resourceIds: ["res-1"] }))).toBeNull();
    // Names are checked by the owner when it dials.
    expect(vpnRouteRefusal({ ...resource, targetHost: "db.office.example" }, connection())).toBeNull();
    // A disabled connection is a status (sessions fail with vpn_no_owner), not a bad reference.
    expect(vpnRouteRefusal(resource, connection({}, { state: "disabled" }))).toBeNull();
  });

  test("another organization's, a deleted or a missing connection reads as not found", () => {
    expect(vpnRouteRefusal(resource, undefined)).toEqual({ kind: "not_found" });
    expect(vpnRouteRefusal(resource, connection({}, { organizationId: "org-2" }))).toEqual({ kind: "not_found" });
    expect(vpnRouteRefusal(resource, connection({}, { state: "deleted" }))).toEqual({ kind: "not_found" });
  });

  test("a service, a resource or a target the policy does not allow is refused with the reason", () => {
    const reason = (r: typeof resource, c: RoutingConnection) => {
      const refusal = vpnRouteRefusal(r, c);
      return refusal?.kind === "not_allowed" ? refusal.reason : refusal?.kind;
    };
    expect(reason({ ...resource, protocol: "rdp" }, connection())).toContain("does not allow rdp");
    expect(reason(resource, connection({ resourceIds: ["res-2"] }))).toContain("not among them");
    expect(reason({ ...resource, targetHost: "10.78.0.1" }, connection())).toContain("outside the connection's allowed ranges");
    expect(reason({ ...resource, targetHost: "10.77.9.1" }, connection())).toContain("inside a range the connection denies");
    expect(reason({ ...resource, targetHost: "fd00::1" }, connection())).toContain("outside");
  });

  test("an address is a one-address range; containment needs the same family and a shorter or equal prefix", () => {
    const a = parseAddress("10.77.0.10")!;
    expect(a.prefix).toBe(32);
    expect(parseAddress("fd00::1")!.prefix).toBe(128);
    expect(parseAddress("office.example")).toBeNull();
    expect(cidrContains(parseCidr("10.77.0.0/16")!, a)).toBe(true);
    expect(cidrContains(parseCidr("10.77.0.0/16")!, parseCidr("10.0.0.0/8")!)).toBe(false);
    expect(cidrContains(parseCidr("::/0")!, a)).toBe(false);
  });
});
