import { describe, expect, test } from "../../fixtures/test.ts";
import { classesBetween } from "./policy.ts";

const BASE: string[] = ["fabric_control", "route_control", "health", "telemetry"];

describe("mesh class policy", () => {
  test("entry and adapter nodes exchange the remote-session classes and nothing bulk", () => {
    const between = classesBetween(["entry-node"], ["ssh-worker"]);
    expect(between).toEqual(expect.arrayContaining([...BASE, "input", "render", "clipboard", "file_transfer"]));
    expect(between).not.toContain("vpn_packet");
    expect(between).not.toContain("update_fetch");
    // Both sides compute the same answer.
    expect(classesBetween(["ssh-worker"], ["entry-node"])).toEqual(between);
    expect(classesBetween(["relay-node"], ["rdp-worker"])).toEqual(between);
  });

  test("two adapters share only the base classes; a node with no mesh role shares nothing", () => {
    expect(classesBetween(["ssh-worker"], ["rdp-worker", "vnc-worker"]) as string[]).toEqual(BASE);
    expect(classesBetween(["ssh-worker"], ["vpn-exit"])).toEqual([]);
    expect(classesBetween(["entry-node"], ["entry-node"])).toContain("vpn_packet");
  });

  test("an adapter and a connector exchange vpn_packet (dial streams of VPN-routed sessions) and nothing of a session", () => {
    for (const adapter of ["ssh-worker", "rdp-worker"]) {
      expect(classesBetween([adapter], ["vpn-connector"]) as string[]).toEqual([...BASE, "vpn_packet"]);
      expect(classesBetween(["vpn-connector"], [adapter])).toEqual(classesBetween([adapter], ["vpn-connector"]));
    }
    expect(classesBetween(["vpn-connector"], ["vpn-connector", "ssh-worker"]) as string[]).toEqual([...BASE, "vpn_packet"]);
    expect(classesBetween(["ssh-worker"], ["ssh-worker"]) as string[]).toEqual(BASE);
  });

  test("a VPN client and a connector exchange vpn_packet; two clients or two connectors do not", () => {
    expect(classesBetween(["vpn-client"], ["vpn-connector"]) as string[]).toEqual([...BASE, "vpn_packet"]);
    expect(classesBetween(["vpn-connector"], ["vpn-client"])).toEqual(classesBetween(["vpn-client"], ["vpn-connector"]));
    expect(classesBetween(["vpn-client"], ["vpn-client"]) as string[]).toEqual(BASE);
    expect(classesBetween(["vpn-connector"], ["vpn-connector"]) as string[]).toEqual(BASE);
    // Through a relay the packets may travel; a connector that is also an adapter still gets no session classes from a client.
    expect(classesBetween(["relay-node"], ["vpn-client"])).toContain("vpn_packet");
    expect(classesBetween(["vpn-client"], ["vpn-connector", "ssh-worker"])).not.toContain("input");
  });
});
