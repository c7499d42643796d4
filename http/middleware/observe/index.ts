/**
 * Access log and request metrics. The route label is the matched pattern
 * (`/api/v1/clusters/:id`), never the raw path, so metric cardinality stays
 * bounded; unmatched paths share one label.
 */
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../../env.ts";
import { F } from "../../../core/log.ts";

export function observe(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    // The last matched handler that is not middleware names the route; none means no route matched.
    const handler = matchedRoutes(c)
      .filter((r) => r.method !== "ALL")
      .at(-1);
    const route = handler?.path ?? "unmatched";
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
