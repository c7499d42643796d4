/**
 * Probes and metrics. /healthz: the process answers. /readyz: the store and
 * live state answer within a bound and the process is not draining.
 * /metrics: Prometheus text format.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

const PROBE_TIMEOUT_MS = 2000;

export const healthRoutes = new Hono<AppEnv>()
  .get("/healthz", (c) => c.json({ status: "ok" }))
  .get("/readyz", async (c) => {
    const { db, live, draining } = c.get("deps");
    const checks = {
      store: await probe(() => db.query("select 1")),
      live_state: await probe(() => live.ping()),
      accepting: draining() ? "draining" : "ok",
    };
    if (Object.values(checks).every((v) => v === "ok")) return c.json({ status: "ready", checks });
    // A probe answer, not an error: balancers read the status, operators read the checks.
    return c.json({ status: "not_ready", checks }, 503);
  })
  .get("/metrics", (c) => {
    c.header("content-type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(c.get("deps").metrics.registry.render());
  });

async function probe(fn: () => Promise<unknown>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS)));
  try {
    return await Promise.race([
      fn().then(
        () => "ok",
        () => "error",
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
