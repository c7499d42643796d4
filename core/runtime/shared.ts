/** Small pieces both runtime implementations use. */
import { constants } from "node:os";

/** The shell convention for a death by signal: 128 + the signal's number. */
export function statusFromSignal(signal: string | number): number {
  const n = typeof signal === "number" ? signal : (constants.signals as Record<string, number>)[signal];
  return 128 + (n ?? 0);
}

export function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export function urlOf(hostname: string, port: number, tls: boolean): URL {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return new URL(`${tls ? "https" : "http"}://${host}:${port}`);
}

/** Methods whose bodiless request Deno hands over with an empty, non-null body. */
const MAY_HAVE_BODY = new Set(["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Bun gives a request without a body (no Content-Length, or 0, and no
 * Transfer-Encoding) a null `body`; Deno gives an empty stream. Handlers
 * that ask "was a body sent?" must see the same on both, so such a request
 * is rebuilt without a body.
 */
export function withoutEmptyBody(req: Request): Request {
  if (req.body === null || !MAY_HAVE_BODY.has(req.method)) return req;
  if (req.headers.has("transfer-encoding")) return req;
  const length = req.headers.get("content-length");
  if (length !== null && length.trim() !== "0") return req;
  return new Request(req.url, { method: req.method, headers: req.headers });
}
