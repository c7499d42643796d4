import { beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, type Session } from "../../fixtures/identity.ts";
import type { Db } from "../../sql/db.ts";

const stores = useStores();

let t: TestApp;
let owner: Session;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
  owner = await bootstrapOwner(t);
});

describe("probes", () => {
  test("/healthz answers while the process runs", async () => {
    const res = await t.call("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("/readyz checks the store and live state", async () => {
    const res = await t.call("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready", checks: { store: "ok", live_state: "ok", accepting: "ok" } });
  });

  test("/readyz fails when the store fails", async () => {
    // The probe's own query fails; start-up reads still work.
    const failing: Db = {
      ...stores.store.db,
      query: (text, params) => (text === "select 1" ? Promise.reject(new Error("down")) : stores.store.db.query(text, params)),
    };
    const res = await (await makeApp(failing, stores.live)).call("GET", "/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "not_ready", checks: { store: "error", live_state: "ok", accepting: "ok" } });
  });

  test("/readyz fails while draining", async () => {
    t.setDraining(true);
    const res = await t.call("GET", "/readyz");
    t.setDraining(false);
    expect(res.status).toBe(503);
  });
});

describe("/metrics", () => {
  test("counts requests by matched route and actor transitions, in Prometheus text", async () => {
    await t.call("POST", "/api/v1/clusters", { body: { name: "m", slug: "metrics" }, token: owner.token });
    await t.call("GET", "/api/v1/clusters/00000000-0000-7000-8000-000000000000", { token: owner.token });
    await t.call("GET", "/no/such/path");
    const res = await t.call("GET", "/metrics");
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain('rap_http_requests_total{method="POST",route="/api/v1/clusters",status="201"} 1');
    expect(text).toContain('rap_http_requests_total{method="GET",route="/api/v1/clusters/:id",status="404"} 1');
    expect(text).toContain('rap_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toContain('rap_actor_transitions_total{kind="cluster",event="cluster.create",outcome="accepted"} 1');
    expect(text).toContain("# TYPE rap_timer_lag_seconds histogram");
  });
});
