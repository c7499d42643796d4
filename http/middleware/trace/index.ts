/**
 * Trace id for every request: taken from a valid W3C `traceparent` (or
 * `x-trace-id`) when the caller sent one, generated otherwise. It is echoed in
 * `x-trace-id`, put in every log line and every error envelope, and written to
 * the actor journal.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env.ts";
import { isTraceId, newTraceId } from "../../../core/ids.ts";
import { F } from "../../../core/log.ts";

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function traceId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const fromParent = TRACEPARENT.exec(c.req.header("traceparent") ?? "")?.[1];
    const fromHeader = c.req.header("x-trace-id")?.toLowerCase();
    const id = [fromParent, fromHeader].find((v): v is string => !!v && isTraceId(v)) ?? newTraceId();
    c.set("traceId", id);
    c.set("log", c.get("deps").log.child({ [F.traceId]: id }));
    c.header("x-trace-id", id);
    await next();
  };
}
