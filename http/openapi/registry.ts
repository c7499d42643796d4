/**
 * What the OpenAPI document is built from: marks on the handlers a route
 * registers. `valid()` marks its validator with (target, schema); the two
 * authentication middlewares mark themselves with their scheme;
 * `describeRoutes()` marks each route's final handler with its summary,
 * success status and the domain error codes it can answer, from one table
 * per router, right below the router. The generator (document.ts) reads
 * the marks back from the app's route table (`app.routes`), so the document
 * lists exactly what is mounted.
 */
import type { GenericSchema } from "valibot";
import type { ErrorCode } from "../../core/error-catalog.ts";

export type Target = "json" | "query" | "param";
export type Scheme = "user" | "node";

export interface RouteDoc {
  summary: string;
  /** The success status (default 200). */
  status?: 200 | 201 | 202 | 204;
  /** Codes the route's own logic can answer; request.*, auth.* of its authentication and validation are added from the marks. */
  errors?: readonly ErrorCode[];
  /** The answer's schema, when a contract declares one. */
  answer?: GenericSchema;
  /** Stream, HTML or JSON outside the envelope rules: the content type of the success answer. */
  contentType?: string;
}

export type Mark = { kind: "validator"; target: Target; schema: GenericSchema } | { kind: "auth"; scheme: Scheme } | { kind: "doc"; doc: RouteDoc };

const marks = new WeakMap<object, Mark>();

export function mark<H extends object>(handler: H, m: Mark): H {
  marks.set(handler, m);
  return handler;
}

/** The mark of a handler from the route table; a sub-app with its own onError wraps it and keeps the original under this key. */
export function markOf(handler: object): Mark | undefined {
  return marks.get(handler) ?? marks.get((handler as Record<string, object>).__COMPOSED_HANDLER ?? {});
}

interface RouterLike {
  routes: readonly { method: string; path: string; handler: object }[];
}

/**
 * A router's documentation, one entry per route keyed `METHOD /path` as the
 * router declares it. Call it right after the router: it marks each route's
 * last handler, and throws at load time when a route has no entry or an
 * entry names no route, so a new route cannot go undocumented.
 */
export function describeRoutes(router: RouterLike, docs: Record<string, RouteDoc>): void {
  const last = new Map<string, object>();
  for (const r of router.routes) if (r.method !== "ALL") last.set(`${r.method} ${r.path}`, r.handler);
  const missing = [...last.keys()].filter((k) => !docs[k]);
  const stale = Object.keys(docs).filter((k) => !last.has(k));
  if (missing.length || stale.length) throw new Error(`describeRoutes: undocumented ${missing.join(", ") || "-"}; no such route ${stale.join(", ") || "-"}`);
  for (const [key, handler] of last) {
    if (marks.get(handler)?.kind === "doc") throw new Error(`describeRoutes: ${key} shares its handler with another documented route`);
    mark(handler, { kind: "doc", doc: docs[key]! });
  }
}

/** What `requireAction` answers when it refuses (http/authorize.ts): for every route that calls it. */
export const DENIED = ["auth.forbidden", "auth.step_up_required", "auth.mfa_enrollment_required"] as const satisfies readonly ErrorCode[];
