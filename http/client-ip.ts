/**
 * The caller's address for rate limits and audit. With TRUST_PROXY=true
 * (only behind a load balancer that sets it) the first X-Forwarded-For hop;
 * otherwise the socket address the runtime seam hands the app as its env
 * (`RequestInfo.remoteAddress`); "unknown" when neither exists (in-process tests).
 */
import type { Context } from "hono";
import type { AppEnv } from "./env.ts";

export function clientIp(c: Context<AppEnv>): string {
  if (c.get("deps").trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded.slice(0, 64);
  }
  const env = c.env as { remoteAddress?: string | null } | undefined;
  return env?.remoteAddress ?? "unknown";
}
