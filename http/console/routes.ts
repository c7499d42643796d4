/**
 * Serves the browser apps of web/: the platform owner console at /console/
 * and the organization admin panel at /org/ (the access portal's page is
 * http/access/routes.ts, bundled here with the others); `/` sends a browser to the
 * console, and the icon (web/icon.svg) is served at /favicon.ico too. The TypeScript under web/ is
 * bundled with esbuild (./bundle.ts) once per process, in memory, on first use (nothing
 * built is committed); every asset is local. Pages carry a strict
 * Content-Security-Policy (scripts and styles only from this origin, no
 * inline code) and hold no secret: they sign in through /api/v1 like any
 * other client.
 */
import { Hono, type Context } from "hono";
import { join } from "node:path";
import { readText } from "../../core/runtime/index.ts";
import type { AppEnv } from "../env.ts";
import { bundleForBrowser } from "./bundle.ts";

const WEB = join(import.meta.dirname, "../../web");

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The apps: the path they are served at, their entry module and their page title. */
const APPS = {
  console: { entry: "console/main.ts", title: "Platform console" },
  org: { entry: "org/main.ts", title: "Organization admin" },
  access: { entry: "access/main.ts", title: "Access portal" },
} as const;
type AppName = keyof typeof APPS;

let bundles: Promise<Map<string, string>> | undefined;

/** `<app>.js` → bundled source, built once per process. A failed build is retried on the next request. */
export function build(): Promise<Map<string, string>> {
  bundles ??= (async () => {
    return bundleForBrowser(
      Object.values(APPS).map((a) => join(WEB, a.entry)),
      WEB,
    );
  })().catch((err) => {
    bundles = undefined;
    throw err;
  });
  return bundles;
}

function shell(app: Exclude<AppName, "access">): string {
  const { title } = APPS[app];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Secure Access Fabric</title>
<link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/assets/console.css">
<script type="module" src="/console/assets/${app}.js"></script>
</head>
<body><main id="app" data-app="${app}"><p class="muted">Loading…</p></main></body>
</html>`;
}

/**
 * The console's CSP with more origins the page may connect to (the access
 * portal's entry points: WebTransport at https://host:port and its WebSocket
 * fallback at wss://host:port). Origins are rebuilt from parsed URLs, so
 * nothing but scheme, host and port reaches the header.
 */
export function cspConnectingTo(urls: readonly string[]): string {
  const origins = new Set<string>();
  for (const u of urls) {
    try {
      const { protocol, host } = new URL(u);
      if (protocol !== "https:") continue;
      origins.add(`https://${host}`);
      origins.add(`wss://${host}`);
    } catch {
      // Not a URL: left out.
    }
  }
  return CONSOLE_CSP.replace("connect-src 'self'", ["connect-src 'self'", ...origins].join(" "));
}

export function securityHeaders(c: Context<AppEnv>, csp = CONSOLE_CSP) {
  c.header("content-security-policy", csp);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  c.header("x-frame-options", "DENY");
  c.header("cache-control", "no-store");
}

const page = (app: Exclude<AppName, "access">) => (c: Context<AppEnv>) => {
  securityHeaders(c);
  return c.html(shell(app));
};

let css: Promise<string> | undefined;
let icon: Promise<string> | undefined;

/** The SVG icon, cacheable for a day; under the pages' CSP, so nothing in it could run. */
const iconAnswer = async (c: Context<AppEnv>) => {
  securityHeaders(c);
  c.header("content-type", "image/svg+xml");
  c.header("cache-control", "public, max-age=86400");
  icon ??= readText(join(WEB, "icon.svg"));
  return c.body(await icon);
};

export const consoleRoutes = new Hono<AppEnv>()
  // A browser pointed at the bare address lands on the console's sign-in.
  .get("/", (c) => c.redirect("/console/", 302))
  .get("/favicon.ico", iconAnswer)
  .get("/console/assets/icon.svg", iconAnswer)
  .get("/console", (c) => c.redirect("/console/"))
  .get("/org", (c) => c.redirect("/org/"))
  .get("/console/", page("console"))
  .get("/org/", page("org"))
  .get("/console/assets/console.css", async (c) => {
    securityHeaders(c);
    c.header("content-type", "text/css; charset=utf-8");
    // Read once per process, like the bundles.
    css ??= readText(join(WEB, "console.css"));
    return c.body(await css);
  })
  .get("/console/assets/:file{[a-z]+\\.js}", async (c) => {
    const file = c.req.param("file");
    // The portal's bundle is served under /access/assets/ (http/access/routes.ts).
    const source = file === "access.js" ? undefined : (await build()).get(file);
    if (source === undefined) return c.notFound();
    securityHeaders(c);
    c.header("content-type", "text/javascript; charset=utf-8");
    return c.body(source);
  });
