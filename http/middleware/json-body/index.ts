/**
 * Request bodies: only JSON, only up to the configured size, only well-formed,
 * and only where the route reads one. Runs before any handler so a bad body
 * never reaches domain code. The size is checked on the declared length and
 * again on the bytes actually read (a chunked body has no declared length).
 *
 * A route reads a body only through `valid("json", ...)` (http/validate.ts),
 * which marks its validator with `readsBody`; a route without one refuses any
 * non-empty body (`request.body_not_allowed`), so a stray body is never
 * silently ignored. An unmatched path is left to the 404 without reading.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../../env.ts";
import { HttpError } from "../../errors.ts";

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;.*)?$/i;

const bodyReaders = new WeakSet<object>();

/** Marks a route handler (a JSON validator) as the one that reads the request body. */
export function readsBody<H extends object>(handler: H): H {
  bodyReaders.add(handler);
  return handler;
}

/** Whether the matched route reads a body, or null when no route matched. */
function routeReadsBody(c: Context<AppEnv>): boolean | null {
  const routes = matchedRoutes(c);
  if (!routes.some((r) => r.method !== "ALL")) return null;
  // A sub-app with its own onError wraps each handler and keeps the original under this key.
  return routes.some((r) => bodyReaders.has(r.handler) || bodyReaders.has((r.handler as unknown as Record<string, object>).__COMPOSED_HANDLER ?? {}));
}

export function jsonBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.raw.body === null) return next();
    const declared = c.req.header("content-length");
    const limit = c.get("deps").bodyLimitBytes;
    const reads = routeReadsBody(c);
    if (reads === null) return next();
    if (!reads) {
      // An empty body (content-length 0, or a chunked body with no bytes) is no body.
      if (declared !== undefined ? Number(declared) === 0 : !(await hasBytes(c.req.raw))) return next();
      throw new HttpError("request.body_not_allowed", "this endpoint takes no request body", { method: c.req.method });
    }
    if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
    if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      throw new HttpError("request.unsupported_media_type", "request body must be application/json", { content_type: c.req.header("content-type") ?? null });
    }
    const bytes = await readLimited(c.req.raw, limit);
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new HttpError("request.invalid_json", "request body is not valid JSON", { reason: err instanceof Error ? err.message : "parse error" });
    }
    // Hand the parsed body to hono's own cache so validators read it without a second parse.
    (c.req as unknown as { bodyCache: Record<string, unknown> }).bodyCache.json = Promise.resolve(parsed);
    await next();
  };
}

function tooLarge(limit: number): HttpError {
  return new HttpError("request.body_too_large", `request body exceeds ${limit} bytes`, { limit_bytes: limit });
}

/** Whether a body without a declared length has any byte; reads at most until the first one. */
async function hasBytes(req: Request): Promise<boolean> {
  const reader = req.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return false;
    if (value.byteLength > 0) {
      await reader.cancel();
      return true;
    }
  }
}

async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    out.set(ch, at);
    at += ch.byteLength;
  }
  return out;
}
