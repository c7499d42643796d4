/** The app's shared contract: error envelope, input guards, trace ids, logs. Through app.request() over real stores. */
import { beforeAll, describe, expect, test } from "../fixtures/test.ts";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, type TestApp } from "../fixtures/control-plane.ts";
import { bootstrapOwner, type Session } from "../fixtures/identity.ts";

const stores = useStores();

let t: TestApp;
let owner: Session;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { bodyLimitBytes: 1024 });
  owner = await bootstrapOwner(t);
});

async function clusterCount(): Promise<number> {
  return (await stores.store.db.query<{ n: number }>("select count(*)::int as n from actors"))[0]!.n;
}

const post = (body: unknown, headers?: Record<string, string>) => t.call("POST", "/api/v1/clusters", { body, token: owner.token, headers });

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: Record<string, unknown> };
  expect(body.error).toMatchObject({ code, message_key: `errors.${code}` });
  expect(typeof body.error.fallback_message).toBe("string");
  expect(body.error.trace_id).toBe(res.headers.get("x-trace-id")!);
  return body.error;
}

describe("error envelope and input guards", () => {
  test("unknown routes get a 404 in the envelope", async () => {
    const err = await expectError(await t.call("GET", "/nope"), 404, "route.not_found");
    expect(err.details).toEqual({ method: "GET", path: "/nope" });
  });

  test("malformed JSON is a 400 and changes nothing", async () => {
    const before = await clusterCount();
    await expectError(await post('{"name": "a",'), 400, "request.invalid_json");
    expect(await clusterCount()).toBe(before);
  });

  test("wrong types name the offending field", async () => {
    const err = await expectError(await post({ name: 7, slug: "ok" }), 400, "request.validation_failed");
    expect((err.details as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(["name"]);
  });

  test("unknown fields are refused, not dropped", async () => {
    const err = await expectError(await post({ name: "a", slug: "a", owner: "x" }), 400, "request.unknown_field");
    expect((err.details as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(["owner"]);
    expect(await clusterCount()).toBe(0);
  });

  test("a body over the limit is a 413, declared or streamed", async () => {
    const big = JSON.stringify({ name: "a", slug: "a", metadata: { pad: "x".repeat(2000) } });
    await expectError(await post(big), 413, "request.body_too_large");
    const stream = new ReadableStream({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode(big));
        ctl.close();
      },
    });
    const res = await t.app.request("/api/v1/clusters", {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json", authorization: `Bearer ${owner.token}` },
    });
    await expectError(res, 413, "request.body_too_large");
  });

  test("a non-JSON body is a 415", async () => {
    await expectError(await post("name=a", { "content-type": "application/x-www-form-urlencoded" }), 415, "request.unsupported_media_type");
  });

  test("a missing body where one is required is a 400", async () => {
    await expectError(await t.call("POST", "/api/v1/clusters", { token: owner.token }), 400, "request.validation_failed");
  });

  test("a 5xx body is generic and the cause stays in the log", async () => {
    const broken = await makeApp(stores.store.db, stores.live, { identity: t.identity, clock: t.clock });
    // A store failure the app cannot explain to the caller.
    (broken.host as unknown as { sendWith: () => Promise<never> }).sendWith = () => Promise.reject(new Error("connection reset: secret-host:5432"));
    const res = await broken.call("POST", "/api/v1/clusters", { body: { name: "a", slug: "a" }, token: owner.token });
    const err = await expectError(res, 500, "internal.error");
    expect(err.details).toEqual({});
    expect(JSON.stringify(err)).not.toContain("secret-host");
    const logged = broken.logs.lines.find((l) => l.msg === "unhandled error");
    expect(JSON.stringify(logged)).toContain("secret-host");
    expect(logged?.["trace.id"]).toBe(err.trace_id);
  });
});

describe("trace ids", () => {
  test("a valid traceparent is adopted and echoed", async () => {
    const id = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await t.call("GET", "/healthz", { headers: { traceparent: `00-${id}-00f067aa0ba902b7-01` } });
    expect(res.headers.get("x-trace-id")).toBe(id);
  });

  test("a forged or malformed trace id is replaced", async () => {
    const res = await t.call("GET", "/healthz", { headers: { "x-trace-id": "../../etc/passwd" } });
    expect(res.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/);
  });

  test("request logs are JSON with the trace id, and never the bearer token", async () => {
    const res = await t.call("GET", "/api/v1/clusters", { token: owner.token });
    const trace = res.headers.get("x-trace-id");
    const line = t.logs.lines.find((l) => l.msg === "request" && l["trace.id"] === trace);
    expect(line).toMatchObject({ "http.method": "GET", route: "/api/v1/clusters", "http.status": 200 });
    const logs = JSON.stringify(t.logs.lines);
    expect(logs).not.toContain(owner.token);
    expect(logs).not.toContain(owner.refresh);
    expect(logs).not.toContain("correct horse");
  });
});
