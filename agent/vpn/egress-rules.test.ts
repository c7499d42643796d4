/** The owner's nftables table for a connection, as text (the e2e run applies it with nft in namespaces). */
import { describe, expect, test } from "../../fixtures/test.ts";
import { egressRuleset, egressTableName, parseEgressCounters } from "./egress-rules.ts";

const spec = {
  table: egressTableName("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
  device: "vpe-0a1b2c3d4e",
  tunnel: "wg-1234567890",
  deniedCidrs: ["10.77.9.0/24", "fd00:9::/32"],
};

describe("the owner's per-connection nftables rules", () => {
  test("without internet egress: only the TUN device may enter the tunnel, denied ranges and everything else from it are dropped, no NAT", () => {
    const text = egressRuleset({ ...spec, internetEgress: false });
    expect(spec.table).toMatch(/^rapvpn-[0-9a-f]{10}$/);
    // Replaces an earlier table (or one a killed agent left) in one transaction.
    expect(text.startsWith(`table inet ${spec.table}\ndelete table inet ${spec.table}\ntable inet ${spec.table} {`)).toBe(true);
    expect(text).toContain('oifname "wg-1234567890" iifname != "vpe-0a1b2c3d4e" counter name "foreign" drop');
    expect(text).toContain('iifname "vpe-0a1b2c3d4e" ip daddr { 10.77.9.0/24 } counter name "denied" drop');
    expect(text).toContain('iifname "vpe-0a1b2c3d4e" ip6 daddr { fd00:9::/32 } counter name "denied" drop');
    expect(text).toContain('iifname "vpe-0a1b2c3d4e" counter name "blocked" drop');
    expect(text).not.toContain("masquerade");
    // The denied ranges are dropped before the tunnel's accept.
    expect(text.indexOf('"denied" drop')).toBeLessThan(text.indexOf('oifname "wg-1234567890" accept'));
  });

  test("with internet egress: the rest leaves by the uplink with source NAT; denied ranges still dropped first", () => {
    const text = egressRuleset({ ...spec, internetEgress: true, deniedCidrs: ["10.77.9.0/24"] });
    expect(text).toContain('iifname "vpe-0a1b2c3d4e" counter name "internet" accept');
    expect(text).toContain('iifname "vpe-0a1b2c3d4e" oifname != "wg-1234567890" masquerade');
    expect(text).not.toContain("ip6 daddr");
    expect(text.indexOf('"denied" drop')).toBeLessThan(text.indexOf('"internet" accept'));
  });

  test("names and ranges that could break the script out of its rule are refused", () => {
    expect(() => egressRuleset({ ...spec, internetEgress: false, device: 'x" accept #' })).toThrow(/interface name/);
    expect(() => egressRuleset({ ...spec, internetEgress: false, deniedCidrs: ["10.0.0.0/8 } accept"] })).toThrow(/CIDR/);
  });

  test("counters are read from nft's JSON; missing ones count 0", () => {
    const json = JSON.stringify({ nftables: [{ metainfo: {} }, { counter: { name: "foreign", packets: 6 } }, { counter: { name: "internet", packets: 3 } }] });
    expect(parseEgressCounters(json)).toEqual({ foreign: 6, denied: 0, internet: 3, blocked: 0 });
  });
});
