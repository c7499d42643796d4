import { describe, expect, test } from "../../fixtures/test.ts";
import { endpointOf, wgSetArgs, wireguardName } from "./wireguard.ts";
import { clientDeviceName, clientRoutes, FULL_TUNNEL, pumpRoutes } from "./client.ts";
import { egressDeviceName } from "./egress.ts";

const secret = {
  private_key: "cHJpdmF0ZQ==",
  peer_public_key: "UEVFUi1LRVktMzItQllURVMtQkFTRTY0LVBBRERJTkc9",
  preshared_key: null,
  tunnel_addresses: ["10.99.0.2/24"],
};
const routing = {
  allowed_cidrs: ["10.77.0.0/16"],
  denied_cidrs: ["10.77.9.0/24"],
  dns_routes: [],
  services: ["ip_tunnel"],
  resource_ids: [],
  internet_egress: false,
};

describe("WireGuard egress configuration", () => {
  test("the private key goes on stdin, never in argv; the gateway is the one peer with the routed ranges", () => {
    const args = wgSetArgs({
      name: "wg-abc123-0f0f",
      secret,
      target: { site: "office", address: "192.168.202.2", port: 51820 },
      routes: routing.allowed_cidrs,
    });
    expect(args.main).toEqual([
      "wg",
      "set",
      "wg-abc123-0f0f",
      "private-key",
      "/dev/stdin",
      "peer",
      secret.peer_public_key,
      "allowed-ips",
      "10.77.0.0/16",
      "endpoint",
      "192.168.202.2:51820",
    ]);
    expect(args.main.join(" ")).not.toContain(secret.private_key);
    expect(args.preshared).toBeNull();
    const psk = wgSetArgs({
      name: "wg-x",
      secret: { ...secret, preshared_key: "c2VjcmV0LXBzaw==" },
      target: { site: "o", address: "2001:db8::1", port: 1 },
      routes: [],
    });
    expect(psk.preshared).toEqual(["wg", "set", "wg-x", "peer", secret.peer_public_key, "preshared-key", "/dev/stdin"]);
    expect([...psk.main, ...psk.preshared!].join(" ")).not.toContain("c2VjcmV0LXBzaw==");
    expect(endpointOf({ site: "o", address: "2001:db8::1", port: 51820 })).toBe("[2001:db8::1]:51820");
  });

  test("interface names fit the kernel's 15 bytes and differ per node and connection, even for UUIDv7s of the same minute", () => {
    // UUIDv7: the leading 48 bits are the creation time, so ids made together share their prefix.
    const conn = "01a22a79-9b04-7ace-8474-802934992468";
    const other = "01a22a79-9b05-7ace-8474-802934992469";
    const a = wireguardName(conn, "01a22a79-95bb-731c-8da2-a40c8641286f");
    const b = wireguardName(conn, "01a22a79-97e0-7aa2-a9ea-b01c3d44be05");
    expect(a).not.toBe(b);
    expect(egressDeviceName(conn)).not.toBe(egressDeviceName(other));
    expect(clientDeviceName(conn)).not.toBe(clientDeviceName(other));
    for (const name of [a, b, egressDeviceName(conn), clientDeviceName(conn)]) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(15);
  });
});

describe("VPN client routes", () => {
  test("split tunnel: the allowed ranges to the owner; none while nobody holds the lease", () => {
    expect(clientRoutes({ routing })).toEqual(["10.77.0.0/16"]);
    expect(pumpRoutes({ routing, owner_node_id: "node-b" })).toEqual([["10.77.0.0/16", "node-b"]]);
    expect(pumpRoutes({ routing, owner_node_id: null })).toEqual([]);
  });

  test("full tunnel when internet egress is allowed: two halves in the kernel, everything to the owner in the pump", () => {
    const full = { ...routing, internet_egress: true };
    expect(clientRoutes({ routing: full })).toEqual([...FULL_TUNNEL, "10.77.0.0/16"]);
    expect(pumpRoutes({ routing: full, owner_node_id: "node-b" })[0]).toEqual(["0.0.0.0/0", "node-b"]);
  });
});
