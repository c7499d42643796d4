/** CIDR parsing (canonical only) and overlap, IPv4 and IPv6. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { cidrsOverlap, parseCidr } from "./cidr.ts";

const overlap = (a: string, b: string) => cidrsOverlap(parseCidr(a)!, parseCidr(b)!);

describe("VPN CIDR ranges", () => {
  test("canonical ranges parse; host bits, bad octets, bad prefixes and junk are refused", () => {
    for (const ok of ["10.20.0.0/16", "0.0.0.0/0", "192.168.1.7/32", "fd00::/8", "2001:db8::/32", "::/0", "2001:db8:0:0:0:0:0:1/128"])
      expect(parseCidr(ok)).not.toBeNull();
    for (const bad of [
      "10.20.0.1/16",
      "10.20.0.0",
      "256.0.0.0/8",
      "10.0.0.0/33",
      "01.0.0.0/8",
      "fd00::1/8",
      "2001:db8::/129",
      "1::2::3/64",
      "x/8",
      "10.0.0.0/8/8",
      "",
    ])
      expect(parseCidr(bad)).toBeNull();
  });

  test("overlap: containment either way and equality overlap; neighbours and other families do not", () => {
    expect(overlap("10.0.0.0/8", "10.20.0.0/16")).toBe(true);
    expect(overlap("10.20.0.0/16", "10.0.0.0/8")).toBe(true);
    expect(overlap("10.20.0.0/16", "10.20.0.0/16")).toBe(true);
    expect(overlap("10.20.0.0/16", "10.21.0.0/16")).toBe(false);
    expect(overlap("0.0.0.0/0", "192.168.0.0/24")).toBe(true);
    expect(overlap("fd00::/8", "fd12:3456::/32")).toBe(true);
    expect(overlap("fd00::/8", "fe80::/10")).toBe(false);
    expect(overlap("0.0.0.0/0", "::/0")).toBe(false);
  });
});
