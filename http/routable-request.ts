/**
 * Gives every request an absolute URL before Hono sees it. Bun's server builds
 * `req.url` from the Host header; without a usable one (an HTTP/1.0 health
 * check, an empty or malformed Host) the URL is only the path ("/healthz").
 * Hono finds the path by skipping past "scheme://authority", so such a URL
 * routed wrongly ("/healthz" was read as "z"), and `new URL(c.req.url)`
 * threw. The edge fills in the server's own origin, keeping path and query
 * exactly as sent.
 */

/** `req` itself when its URL is already absolute and parseable, else a copy with `origin` in front of its path. */
export function routableRequest(req: Request, origin: string): Request {
  const url = req.url;
  // Concatenated, not `new URL(url, origin)`: a path such as "//x" would otherwise become a host.
  if (url.startsWith("/")) return new Request(origin + url, req);
  if (URL.canParse(url)) return req;
  // A Host Bun kept but URL cannot parse ("[::1"): keep the path, replace the authority.
  const slash = url.indexOf("/", url.indexOf("://") + 3);
  return new Request(origin + (slash < 0 ? "/" : url.slice(slash)), req);
}
