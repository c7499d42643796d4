/**
 * Request bodies: only JSON, only up to the configured size, only well-formed.
 * Runs before any handler so a bad body never reaches domain code. The size
 * is checked on the declared length and again on the bytes actually read (a
 * chunked body has no declared length).
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env.ts";
import { HttpError } from "../../errors.ts";

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;.*)?$/i;

export function jsonBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.raw.body === null) return next();
    const declared = c.req.header("content-length");
    const limit = c.get("deps").bodyLimitBytes;
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
