/**
 * Generated hostile input (fast-check) over the app's route table, the
 * node-agent routes included with a real enrolled node's credentials. Each
 * route has a valid request below (a new route without one fails the first
 * test); each run puts one hostile value in one place of it: a body field,
 * a JSON member, a query or path parameter, the whole body, or an extra
 * query parameter. Two properties per route:
 *
 * - poison (NUL, lone surrogates, control characters, huge strings, bad
 *   dates, deep, wide or oversized JSON, wrong types) is refused with a 4xx
 *   envelope and changes no row;
 * - anything (odd but valid Unicode, boundary numbers and real dates too)
 *   never gets a 5xx, always gets the envelope when refused, and a refusal
 *   of the input (`request.*`) changes no row.
 *
 * "No row changes" is a checksum of every table (row count and a hash of
 * every row). The seed is fixed (FUZZ_SEED to change it, FUZZ_RUNS for the
 * runs per property and route); a failure names the route, the seed, the
 * place and the value. scripts/test runs this file on PostgreSQL and again
 * on PGlite.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import fc from "fast-check";
import { useStores } from "../fixtures/stores.ts";
import type { TestApp } from "../fixtures/control-plane.ts";
import { apiRoutes } from "../fixtures/routes.ts";
import { routeWorld, TEMPLATES, type Ids, type RouteWorld, type Template } from "../fixtures/route-requests.ts";
import {
  anyValue,
  asParam,
  badDate,
  bodyPlaces,
  boundaryNumber,
  bodyText,
  controlString,
  describePlace,
  hugeString,
  nulString,
  oddString,
  pct,
  poisonFor,
  preview,
  rawQueryJunk,
  unstorableString,
  wildString,
  withValue,
  type Kind,
  type Place,
  type Value,
} from "../fixtures/hostile.ts";
import { isErrorCode } from "../core/error-catalog.ts";

// Before useStores: its hooks take the default timeout in force when they are registered.
setDefaultTimeout(120_000);
const stores = useStores();

const SEED = Number(process.env.FUZZ_SEED ?? 19_0206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 16);

const JSON_FIELDS = new Set(["metadata", "facts", "telemetry"]);
const SECRET_FIELDS = new Set(["password", "username", "domain", "private_key"]);
const DATE_FIELDS = new Set(["since", "until"]);

let t: TestApp;
let world: RouteWorld;
let ids: Ids;
let checksum: () => Promise<Map<string, string>>;

beforeAll(async () => {
  world = await routeWorld(stores);
  ({ t, ids } = world);

  const tables = (
    await stores.store.db.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
  ).map((r) => r.table_name);
  const sql = tables
    .map((n) => `select '${n}' as t, count(*)::text || ':' || coalesce(sum(hashtext(x::text)::bigint), 0)::text as s from "${n}" x`)
    .join(" union all ");
  checksum = async () => new Map((await stores.store.db.query<{ t: string; s: string }>(sql)).map((r) => [r.t, r.s]));
}, 120_000);

interface Probe {
  place: Place;
  value: Value;
  key?: string;
  raw?: string;
}

/** The request a probe makes: the route's valid request with one hostile value in one place. */
function build(route: string, tpl: Template, p: Probe): { method: string; url: string; body?: string } {
  const [method, pattern] = route.split(" ") as [string, string];
  const params = { ...tpl.params };
  const query: [string, string][] = Object.entries(tpl.query ?? {});
  let body: unknown = tpl.body;
  let hasBody = tpl.body !== undefined;
  const pl = p.place;
  if (pl.in === "param") params[pl.name] = asParam(p.value);
  else if (pl.in === "query")
    query.splice(
      query.findIndex(([k]) => k === pl.key),
      1,
      [pl.key, asParam(p.value)],
    );
  else if (pl.in === "body") body = withValue(body, pl.path, p.value);
  else if (pl.in === "whole-body") {
    body = p.value;
    hasBody = true;
  }
  const path = pattern.replace(/:([A-Za-z]+)/g, (_, name: string) => pct(params[name] ?? ""));
  let qs = query.map(([k, v]) => `${pct(k)}=${pct(v)}`).join("&");
  if (pl.in === "extra-query") qs = [qs, p.raw ?? `${pct(p.key ?? "x")}=${pct(asParam(p.value))}`].filter(Boolean).join("&");
  return { method, url: qs ? `${path}?${qs}` : path, body: hasBody ? bodyText(body) : undefined };
}

function placesOf(route: string, tpl: Template): Place[] {
  const method = route.split(" ")[0]!;
  const out: Place[] = [];
  if (tpl.body) out.push(...bodyPlaces(tpl.body, JSON_FIELDS, SECRET_FIELDS, DATE_FIELDS));
  for (const key of Object.keys(tpl.query ?? {})) out.push({ in: "query", key, kind: DATE_FIELDS.has(key) ? "date" : "text" });
  for (const name of Object.keys(tpl.params ?? {})) out.push({ in: "param", name });
  // A GET cannot carry a body; every other method either validates one or must refuse it.
  if (method !== "GET") out.push({ in: "whole-body" });
  return out;
}

// A lone surrogate cannot travel in a URL (its percent-encoding is not UTF-8 and is read as literal text), so query poison is NUL, controls and size.
const queryPoison = (kind: Kind) => (kind === "date" ? fc.oneof(badDate, nulString, controlString) : fc.oneof(nulString, controlString, hugeString));
function poisonProbe(place: Place): fc.Arbitrary<Probe> {
  const value =
    place.in === "body"
      ? poisonFor(place.kind)
      : place.in === "query"
        ? queryPoison(place.kind)
        : place.in === "param"
          ? poisonFor("param")
          : poisonFor("whole-body");
  return value.map((v) => ({ place, value: v }));
}
function anyProbe(place: Place): fc.Arbitrary<Probe> {
  if (place.in === "extra-query") {
    return fc.oneof(
      fc.tuple(fc.oneof(oddString, wildString, unstorableString), anyValue).map(([key, value]) => ({ place, key, value })),
      rawQueryJunk.map((raw) => ({ place, value: raw, raw })),
    );
  }
  if (place.in === "param" || place.in === "query") return fc.oneof(anyValue, oddString, wildString).map((value) => ({ place, value }));
  return anyValue.map((value) => ({ place, value }));
}

const tokenFor = (tpl: Template) => world.tokenFor(tpl);
let last: Map<string, string> | undefined;

/** Sends one probe; returns what is wrong with the answer, or null. */
async function probe(route: string, tpl: Template, p: Probe, mustRefuse: boolean): Promise<string | null> {
  const req = build(route, tpl, p);
  const before = last ?? (await checksum());
  last = undefined;
  const res = await t.call(req.method, req.url, { token: tokenFor(tpl), body: req.body });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {}
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status}`);
  else if (res.status >= 400 && !(code && isErrorCode(code))) problems.push(`answered ${res.status} without the error envelope`);
  if (mustRefuse && res.status < 400) problems.push(`accepted it (${res.status})`);
  if (mustRefuse || code?.startsWith("request.") || res.status >= 500) {
    const after = await checksum();
    const changed = [...after].filter(([k, s]) => before.get(k) !== s).map(([k]) => k);
    if (changed.length) problems.push(`changed ${changed.join(", ")}`);
    last = after;
  }
  if (!problems.length) return null;
  const shown = p.raw
    ? `raw query ${JSON.stringify(p.raw)}`
    : `${describePlace(p.place)}${p.key !== undefined ? ` ${preview(p.key)}` : ""} = ${preview(p.value)}`;
  return `${shown}: ${problems.join("; ")} (${res.status} ${code ?? text.slice(0, 120)})`;
}

/** A per-route seed, so one route's runs do not depend on which routes ran before it. */
function seedOf(route: string): number {
  let h = SEED | 0;
  for (let i = 0; i < route.length; i++) h = (Math.imul(h, 31) + route.charCodeAt(i)) | 0;
  return h;
}

async function runProperty(
  route: string,
  label: string,
  arb: fc.Arbitrary<Probe>,
  check: (p: Probe) => Promise<string | null>,
  seed: number,
): Promise<string | null> {
  const r = await fc.check(
    fc.asyncProperty(arb, async (p) => {
      const wrong = await check(p);
      if (wrong) throw new Error(wrong);
    }),
    { seed, numRuns: RUNS, endOnFailure: true },
  );
  if (!r.failed) return null;
  const why = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
  return `${route} (${label}): ${why} [seed ${r.seed}, run ${r.numRuns}; rerun with FUZZ_SEED=${SEED}]`;
}

describe("generated hostile input", () => {
  test("every API route has a valid request to start from", () => {
    const routes = apiRoutes(t.app);
    expect(routes.filter((r) => !TEMPLATES[r])).toEqual([]);
    expect(Object.keys(TEMPLATES).filter((r) => !routes.includes(r))).toEqual([]);
  });

  for (const [route, make] of Object.entries(TEMPLATES)) {
    test(`${route}: poison is refused without a write, nothing gets a 5xx`, async () => {
      const tpl = make(ids);
      const places = placesOf(route, tpl);
      const failures: string[] = [];
      const seed = seedOf(route);
      if (places.length) {
        const poison = fc.constantFrom(...places).chain(poisonProbe);
        failures.push(...[await runProperty(route, "poison", poison, (p) => probe(route, tpl, p, true), seed)].filter((f): f is string => !!f));
      }
      const any = fc.constantFrom(...places, { in: "extra-query" } as Place).chain(anyProbe);
      failures.push(...[await runProperty(route, "any", any, (p) => probe(route, tpl, p, false), seed + 1)].filter((f): f is string => !!f));
      expect(failures).toEqual([]);
    });
  }

  // A node proof is read (its key id looked up) before its signature can be checked: hostile text inside it must not reach PostgreSQL.
  test("POST /api/v1/node-agents/session: hostile text inside a proof's header and claims is refused without a write", async () => {
    const route = "POST /api/v1/node-agents/session";
    const tpl = TEMPLATES[route]!(ids);
    const b64u = (x: unknown) => Buffer.from(bodyText(x)).toString("base64url");
    const part = fc.oneof(anyValue, unstorableString, fc.constant(ids.nodeFingerprint), fc.constant(`SHA256:${"A".repeat(42)}\u0000=`));
    const proof = fc
      .tuple(
        part,
        fc.record({
          typ: fc.oneof(part, fc.constant("rap.node_proof.v1")),
          cluster_id: fc.oneof(part, fc.constant(ids.cluster)),
          iat: fc.oneof(part, boundaryNumber),
          jti: part,
        }),
      )
      .map(
        ([kid, claims]): Probe => ({
          place: { in: "body", path: ["proof"], kind: "text" },
          value: `${b64u({ alg: "ES256", kid })}.${b64u(claims)}.${"A".repeat(86)}`,
        }),
      );
    expect(await runProperty(route, "proof contents", proof, (p) => probe(route, tpl, p, true), seedOf(route) + 2)).toBeNull();
  });
});
