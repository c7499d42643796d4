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
/** Handlers that read a raw byte body themselves (version storage uploads), with their own size limit. */
const octetReaders = new WeakSet<object>();
const OCTET_TYPE = /^application\/octet-stream\s*(?:;.*)?$/i;

/** Marks a route handler (a JSON validator) as the one that reads the request body. */
export function readsBody<H extends object>(handler: H): H {
  bodyReaders.add(handler);
  return handler;
}

/** Marks a route handler that reads an `application/octet-stream` body itself, through `readOctets`. */
export function readsOctets<H extends object>(handler: H): H {
  octetReaders.add(handler);
  return handler;
}

/** Whether the matched route reads a body (JSON or raw bytes), or null when no route matched. */
function routeReadsBody(c: Context<AppEnv>): boolean | "octets" | null {
  const routes = matchedRoutes(c);
  if (!routes.some((r) => r.method !== "ALL")) return null;
  // A sub-app with its own onError wraps each handler and keeps the original under this key.
  const handlers = routes.flatMap((r) => [r.handler as object, (r.handler as unknown as Record<string, object>).__COMPOSED_HANDLER ?? {}]);
  if (handlers.some((h) => octetReaders.has(h))) return "octets";
  return handlers.some((h) => bodyReaders.has(h));
}

/** The raw body of a `readsOctets` route, refused as too large past `limit` bytes. */
export async function readOctets(c: Context<AppEnv>, limit: number): Promise<Uint8Array> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(c, limit);
  const bytes = await readLimited(c.req.raw, limit);
  if (!bytes) throw tooLarge(c, limit);
  return bytes;
}

export function jsonBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const declared = c.req.header("content-length");
    // Bun gives a GET or HEAD a null body even when one was sent; its framing headers still show it.
    const framed = c.req.raw.body !== null || (declared !== undefined && Number(declared) > 0) || c.req.header("transfer-encoding") !== undefined;
    if (!framed) return next();
    const limit = c.get("deps").bodyLimitBytes;
    const reads = routeReadsBody(c);
    if (reads === null) return next();
    if (reads === "octets") {
      if (!OCTET_TYPE.test(c.req.header("content-type") ?? ""))
        throw new HttpError("request.unsupported_media_type", "request body must be application/octet-stream", {
          content_type: c.req.header("content-type") ?? null,
        });
      return next();
    }
    if (!reads) {
      // An empty body (content-length 0, or a chunked body with no bytes) is no body.
      const empty = declared !== undefined ? Number(declared) === 0 : c.req.raw.body !== null && !(await hasBytes(c.req.raw));
      if (empty) return next();
      throw new HttpError("request.body_not_allowed", "this endpoint takes no request body", { method: c.req.method });
    }
    if (declared !== undefined && Number(declared) > limit) throw tooLarge(c, limit);
    if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      throw new HttpError("request.unsupported_media_type", "request body must be application/json", { content_type: c.req.header("content-type") ?? null });
    }
    const bytes = await readLimited(c.req.raw, limit);
    if (!bytes) throw tooLarge(c, limit);
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

/** Also ends the connection, so a client is not left sending the rest of a body nobody reads. */
function tooLarge(c: Context<AppEnv>, limit: number): HttpError {
  c.header("connection", "close");
  return new HttpError("request.body_too_large", `request body exceeds ${limit} bytes`, { limit_bytes: limit });
}

/**
 * One read of the body stream. The client can end the connection or send
 * broken chunk framing mid-body (Bun then answers 400 itself): that is the
 * client's fault, not a 500 in our logs and metrics.
 */
async function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>) {
  try {
    return await reader.read();
  } catch (err) {
    throw new HttpError("request.body_incomplete", "the request body ended early or was malformed", {
      reason: err instanceof Error ? err.message : "read error",
    });
  }
}

/** Whether a body without a declared length has any byte; reads at most until the first one. */
async function hasBytes(req: Request): Promise<boolean> {
  const reader = req.body!.getReader();
  for (;;) {
    const { done, value } = await readChunk(reader);
    if (done) return false;
    if (value.byteLength > 0) {
      await reader.cancel();
      return true;
    }
  }
}

/** The body's bytes, or null as soon as there are more than `limit`. */
async function readLimited(req: Request, limit: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await readChunk(reader);
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
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
