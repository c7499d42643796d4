/** DNS routes: suffix and server syntax, longest-suffix choice, and the wire pieces the client's stub needs. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { dnsQuery } from "../../fixtures/dns-server.ts";
import { dnsRouteFor, dnsServfail, isDnsServer, isDnsSuffix, parseDnsQuestion } from "./dns.ts";

describe("VPN DNS routes", () => {
  test("a suffix is a lower-case DNS name without the trailing dot; a server is an IP address", () => {
    for (const ok of ["corp.example", "internal", "a-b.c1.example", `${"a".repeat(63)}.example`]) expect(isDnsSuffix(ok)).toBe(true);
    for (const bad of [
      "",
      ".",
      "Corp.example",
      "corp.example.",
      ".corp",
      "corp..example",
      "-corp.example",
      "corp-.example",
      `${"a".repeat(64)}.x`,
      "a b",
      "*.corp",
    ])
      expect(isDnsSuffix(bad)).toBe(false);
    expect(isDnsSuffix(Array(127).fill("a").join("."))).toBe(true);
    expect(isDnsSuffix(Array(128).fill("a").join("."))).toBe(false);
    for (const ok of ["10.77.0.53", "fd00::53"]) expect(isDnsServer(ok)).toBe(true);
    for (const bad of ["dns.corp.example", "10.77.0.300", "10.77.0.53:53", "10.77.0.0/16", "", "010.1.1.1"]) expect(isDnsServer(bad)).toBe(false);
  });

  test("the longest suffix a name ends in (whole labels, any case, trailing dot or not) wins; others go to the host's resolver", () => {
    const routes = [
      { suffix: "corp.example", servers: ["10.0.0.53"] },
      { suffix: "lab.corp.example", servers: ["10.0.9.53"] },
    ];
    expect(dnsRouteFor("intranet.corp.example", routes)?.servers).toEqual(["10.0.0.53"]);
    expect(dnsRouteFor("corp.example.", routes)?.servers).toEqual(["10.0.0.53"]);
    expect(dnsRouteFor("Host.LAB.corp.example", routes)?.servers).toEqual(["10.0.9.53"]);
    expect(dnsRouteFor("notcorp.example", routes)).toBeNull();
    expect(dnsRouteFor("example", routes)).toBeNull();
    expect(dnsRouteFor("corp.example.org", routes)).toBeNull();
  });

  test("a query's question is read; anything else (an answer, a short or compressed message) is not", () => {
    const q = parseDnsQuestion(dnsQuery("Intranet.Corp.Example", 0xbeef))!;
    expect(q).toMatchObject({ id: 0xbeef, name: "intranet.corp.example", qtype: 1 });
    const answer = dnsQuery("a.example", 1);
    answer[2] = answer[2]! | 0x80;
    expect(parseDnsQuestion(answer)).toBeNull();
    expect(parseDnsQuestion(new Uint8Array(11))).toBeNull();
    const pointer = dnsQuery("a.example", 1);
    pointer[12] = 0xc0;
    expect(parseDnsQuestion(pointer)).toBeNull();
    expect(parseDnsQuestion(dnsQuery("a.example", 1).subarray(0, 20))).toBeNull();
  });

  test("SERVFAIL keeps the id and the question, sets QR and RCODE 2, and carries no records", () => {
    const query = dnsQuery("x.corp.example", 0x0102);
    const q = parseDnsQuestion(query)!;
    const fail = dnsServfail(query, q);
    expect([...fail.subarray(0, 2)]).toEqual([1, 2]);
    expect(fail[2]! & 0x80).toBe(0x80);
    expect(fail[3]! & 0x0f).toBe(2);
    expect([...fail.subarray(6, 12)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...fail.subarray(12)]).toEqual([...query.subarray(12, q.end)]);
  });
});
