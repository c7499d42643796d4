/**
 * The input rules of common.ts, with generated input (fast-check, fixed
 * seed): what passes `Text`, `JsonObject` and `Timestamp` is always text
 * PostgreSQL can store, bounded JSON and a real instant; the agent wire
 * contracts never throw and never pass on an unstorable string.
 */
import { describe, expect, test } from "../../fixtures/test.ts";
import fc from "fast-check";
import * as v from "valibot";
import { isStorableText, JsonObject, jsonProblem, Text, Timestamp } from "./common.ts";
import { HeartbeatBody, JoinBody, LinkReportBody, MeshEndpointBody, RouteHealthBody, ServiceReportBody } from "./nodes.ts";
import { anyValue, BAD_DATES, hugeString, oddString, RawJson, unstorableString, wildString, withValue } from "../../fixtures/hostile.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 19_0206);
const opts = { seed: SEED, numRuns: 300 };

/** Every string in a value (keys included), for "nothing unstorable got through". */
function strings(x: unknown, out: string[] = []): string[] {
  if (typeof x === "string") out.push(x);
  else if (Array.isArray(x)) for (const i of x) strings(i, out);
  else if (x && typeof x === "object")
    for (const [k, i] of Object.entries(x)) {
      out.push(k);
      strings(i, out);
    }
  return out;
}

describe("Text", () => {
  const Name = Text(200, { min: 1 });

  test("what passes is storable, control-free, NFC, trimmed and bounded, and passes again unchanged", () => {
    fc.assert(
      fc.property(fc.oneof(wildString, oddString, unstorableString, hugeString), (s) => {
        const r = v.safeParse(Name, s);
        if (!r.success) return;
        expect(isStorableText(r.output)).toBe(true);
        expect(/[\u0000-\u001F\u007F-\u009F\u2028\u2029]/.test(r.output)).toBe(false);
        expect(r.output).toBe(r.output.normalize("NFC").trim());
        expect(r.output.length).toBeGreaterThanOrEqual(1);
        expect(r.output.length).toBeLessThanOrEqual(200);
        expect(v.parse(Name, r.output)).toBe(r.output);
      }),
      opts,
    );
  });

  test("NUL and lone surrogates are refused wherever they are", () => {
    fc.assert(
      fc.property(unstorableString, (s) => expect(v.safeParse(Text(10_000), s).success).toBe(false)),
      opts,
    );
  });

  test("odd but valid Unicode is kept, composed to NFC", () => {
    expect(v.parse(Name, " e\u0301cole 😀 ")).toBe("école 😀");
    expect(v.parse(Name, "\u202Eevil")).toBe("\u202Eevil");
    expect(v.safeParse(Name, "a\tb").success).toBe(false);
    expect(v.parse(Text(50, { multiline: true }), "line 1\r\n\tline 2")).toBe("line 1\r\n\tline 2");
    expect(v.safeParse(Text(50, { multiline: true }), "a\u2028b").success).toBe(false);
  });
});

describe("JsonObject", () => {
  const Meta = JsonObject({ maxBytes: 8192 });
  const parse = (raw: RawJson | unknown) => v.safeParse(Meta, raw instanceof RawJson ? JSON.parse(raw.text) : raw);

  test("deep, wide, big and poisoned documents are refused, without recursion", () => {
    const deep = JSON.parse(`${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`);
    expect(parse(deep).success).toBe(false);
    expect(parse({ a: JSON.parse(`${"[".repeat(20_000)}1${"]".repeat(20_000)}`) }).success).toBe(false);
    expect(parse(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]))).success).toBe(false);
    expect(parse({ pad: "x".repeat(900_000) }).success).toBe(false);
    expect(parse([1, 2]).success).toBe(false);
    expect(parse({ "a\u0000": 1 }).success).toBe(false);
    expect(parse({ a: [{ b: "\uD800" }] }).success).toBe(false);
    expect(parse({ ["k".repeat(65)]: 1 }).success).toBe(false);
    // Eight levels is the limit; the ninth is refused.
    const nest = (n: number): unknown => (n === 1 ? { a: 1 } : { a: nest(n - 1) });
    expect(parse(nest(8)).success).toBe(true);
    expect(parse(nest(9)).success).toBe(false);
    // The size is UTF-8 bytes, not UTF-16 units.
    expect(parse({ s: "€".repeat(2720) }).success).toBe(true);
    expect(parse({ s: "€".repeat(2740) }).success).toBe(false);
  });

  test("what passes is storable and within every bound", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(wildString, oddString),
          fc.oneof(
            fc.jsonValue({ maxDepth: 4 }),
            wildString,
            anyValue.filter((x) => !(x instanceof RawJson)),
          ),
        ),
        (m) => {
          const r = parse(m);
          expect(r.success).toBe(jsonProblem(m, { maxBytes: 8192 }) === null);
          if (!r.success) return;
          expect(strings(r.output).every(isStorableText)).toBe(true);
          expect(new TextEncoder().encode(JSON.stringify(r.output)).byteLength).toBeLessThanOrEqual(8192);
        },
      ),
      opts,
    );
  });
});

describe("Timestamp", () => {
  test("impossible and out-of-range dates are refused", () => {
    for (const d of BAD_DATES) expect([d, v.safeParse(Timestamp, d).success]).toEqual([d, false]);
  });

  test("real instants are accepted and handed on in UTC", () => {
    expect(v.parse(Timestamp, "2024-02-29T12:00:00Z")).toBe("2024-02-29T12:00:00.000Z");
    expect(v.parse(Timestamp, "2024-03-01T00:30:00+01:00")).toBe("2024-02-29T23:30:00.000Z");
    expect(v.parse(Timestamp, "1970-01-01 00:00:00.123456Z")).toBe("1970-01-01T00:00:00.123Z");
    expect(v.parse(Timestamp, "9999-12-31T23:59:59.999Z")).toBe("9999-12-31T23:59:59.999Z");
  });

  test("any instant in range round-trips; any outside is refused", () => {
    const range = { min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59.999Z") };
    fc.assert(
      fc.property(fc.date({ ...range, noInvalidDate: true }), (d) => expect(v.parse(Timestamp, d.toISOString())).toBe(d.toISOString())),
      opts,
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.date({ min: new Date(-8.64e15), max: new Date(-1), noInvalidDate: true }),
          fc.date({ min: new Date(Date.UTC(10_000, 0, 1)), max: new Date(8.64e15), noInvalidDate: true }),
        ),
        (d) => expect(v.safeParse(Timestamp, d.toISOString()).success).toBe(false),
      ),
      opts,
    );
  });
});

describe("agent wire contracts", () => {
  const valid: [string, v.GenericSchema, Record<string, unknown>][] = [
    ["heartbeat", HeartbeatBody, { seq: 1, agent_version: "1.0.0", telemetry: { load: [0.1, 0.2], memory_free_bytes: 1, degraded: false } }],
    [
      "join",
      JoinBody,
      {
        token: "rap_jt_a_b",
        cluster_id: "01a20a05-7de4-745e-9a97-9afb1e424ac0",
        node_name: "edge-1",
        public_key: "AAAA",
        csr: "-----BEGIN CERTIFICATE REQUEST-----\n",
        fingerprint: `SHA256:${"A".repeat(43)}=`,
        facts: { os: "linux", interfaces: [{ name: "eth0", address: "10.0.0.1" }] },
        capabilities: { can_route_mesh: true },
        requested_roles: ["relay-node"],
      },
    ],
    ["services", ServiceReportBody, { services: [{ service_type: "relay-node", reported_state: "running", version: "1.0.0" }] }],
    ["links", LinkReportBody, { observations: [{ peer_node_id: "01a20a05-7de4-745e-9a97-9afb1e424ac0", reachable: true, latency_ms: 1, loss: 0 }] }],
    ["mesh endpoint", MeshEndpointBody, { address: "127.0.0.1:7443" }],
    [
      "route health",
      RouteHealthBody,
      { reports: [{ to: "01a20a05-7de4-745e-9a97-9afb1e424ac0", via: ["01a20a05-82d0-71ac-b254-3e4f46bb03de"], healthy: true }] },
    ],
  ];

  /** Every path of a value, to pick where a hostile value goes. */
  const paths = (x: unknown, at: (string | number)[] = []): (string | number)[][] =>
    x && typeof x === "object" ? [at, ...Object.entries(x).flatMap(([k, i]) => paths(i, [...at, Array.isArray(x) ? Number(k) : k]))] : [at];

  for (const [name, schema, body] of valid) {
    test(`${name}: the valid report passes; any hostile value anywhere never throws and never passes unstorable text`, () => {
      expect(v.safeParse(schema, body).success).toBe(true);
      fc.assert(
        fc.property(fc.constantFrom(...paths(body)), fc.oneof(anyValue, unstorableString), (path, value) => {
          const hostile = withValue(body, path, value instanceof RawJson ? JSON.parse(value.text) : value);
          const r = v.safeParse(schema, hostile);
          if (r.success) expect(strings(r.output).every(isStorableText)).toBe(true);
        }),
        { ...opts, numRuns: 200 },
      );
    });
  }
});
