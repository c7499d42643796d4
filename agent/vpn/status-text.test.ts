/** The VPN line of `rap-node-agent status`. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { vpnStatusLine } from "./status-text.ts";

describe("rap-node-agent status: the VPN line", () => {
  test("owner, client and the DNS routes in force, each at a glance", () => {
    const line = vpnStatusLine({
      egress: { "0190aaaa-0000-7000-8000-000000000001": { epoch: 3, tunnel: "wg-1a2b" } },
      client: { "0190bbbb-0000-7000-8000-000000000002": { owner: "0190cccc-0000-7000-8000-000000000003", epoch: 3, routes: [] } },
      dns: { listen: "127.0.88.53:53", routes: [{ suffix: "corp.example", servers: ["10.77.0.53"], queries: 4, failures: 1 }], other_queries: 2 },
      pump: null,
    });
    expect(line).toBe(
      "\n  vpn: owner of 0190aaaa epoch 3 via wg-1a2b | client of 0190bbbb → node 0190cccc epoch 3 | dns 127.0.88.53:53: corp.example → 10.77.0.53 (4 queries, 1 failed); other names 2 queries",
    );
  });

  test("nothing for a node without VPN roles; stopped and vacant states are named", () => {
    expect(vpnStatusLine(null)).toBe("");
    expect(vpnStatusLine({ egress: {}, client: {}, dns: null, pump: null })).toBe("");
    expect(vpnStatusLine({ egress: { c1234567: { epoch: null, tunnel: null } }, client: { c7654321: { owner: null, epoch: 0 } } })).toBe(
      "\n  vpn: owner of c1234567: stopped | client of c7654321: nobody holds it",
    );
  });
});
