/** The change context of an HTTP request: the authenticated principal, over http, under the request's trace id. */
import type { Context } from "hono";
import type { ChangeContext } from "../core/change.ts";
import type { AppEnv } from "./env.ts";

export function changeOf(c: Context<AppEnv>): ChangeContext {
  return { author: c.get("principal"), source: { type: "http" }, traceId: c.get("traceId") };
}

/** Before authentication: the author is the anonymous caller, identified later in the audit details if at all. */
export function anonymousChange(c: Context<AppEnv>): ChangeContext {
  return { author: { type: "user", id: "anonymous" }, source: { type: "http" }, traceId: c.get("traceId") };
}
