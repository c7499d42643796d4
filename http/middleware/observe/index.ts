/**
 * Access log and request metrics. The route label is the matched pattern
 * (`/api/v1/clusters/:id`), never the raw path, so metric cardinality stays
 * bounded; unmatched paths share one label.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../../env.ts";
import { F } from "../../../core/log.ts";

export function observe(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const pattern = routePath(c, -1);
    const route = pattern === "/*" || pattern === "*" || pattern === "" ? "unmatched" : pattern;
    const { metrics } = c.get("deps");
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
    if (route === "/metrics" || route === "/healthz") return;
    c.get("log").info("request", {
      [F.method]: c.req.method,
      [F.path]: c.req.path,
      route,
      [F.status]: c.res.status,
      [F.durationMs]: Math.round(seconds * 100_000) / 100,
    });
  };
}
