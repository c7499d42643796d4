/**
 * Serves the access portal at /access/: the page end users open to reach
 * resources (web/access/). It shares the console's in-memory bundle and its
 * strict Content-Security-Policy (http/console/routes.ts): scripts and styles
 * only from this origin, no inline code, no CDN; it may connect to this
 * origin and to the entry points entry nodes published, nothing else. Its own assets are the
 * bundle, its stylesheet, and xterm.js's stylesheet read from the installed
 * npm package, so nothing is fetched from anywhere else.
 */
import { Hono, type Context } from "hono";
import { createRequire } from "node:module";
import { join } from "node:path";
import { readText } from "../../core/runtime/index.ts";
import type { AppEnv } from "../env.ts";
import { bundleOne } from "../console/bundle.ts";
import { build, cspConnectingTo, securityHeaders } from "../console/routes.ts";
import { entryUrls } from "../../control/sessions/queries.ts";

const WEB = join(import.meta.dirname, "../../web");

/** The stylesheets the portal links, in order: the shared one, the terminal's, the portal's own. */
const STYLES: Record<string, () => string> = {
  "xterm.css": () => createRequire(join(WEB, "package.json")).resolve("@xterm/xterm/css/xterm.css"),
  "access.css": () => join(WEB, "access/access.css"),
};

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Access portal · Secure Access Fabric</title>
<link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/assets/console.css">
<link rel="stylesheet" href="/access/assets/xterm.css">
<link rel="stylesheet" href="/access/assets/access.css">
<script type="module" src="/access/assets/access.js"></script>
</head>
<body><main id="app" data-app="access"><p class="muted">Loading…</p></main></body>
</html>`;

const styles = new Map<string, Promise<string>>();

let renderWorker: Promise<string> | undefined;
/** The remote desktop's drawing worker (web/access/desktop/render-worker.ts), bundled once per process; a failed build is retried. */
function buildRenderWorker(): Promise<string> {
  renderWorker ??= bundleOne(join(WEB, "access/desktop/render-worker.ts")).catch((err) => {
    renderWorker = undefined;
    throw err;
  });
  return renderWorker;
}

export const accessRoutes = new Hono<AppEnv>()
  .get("/access", (c) => c.redirect("/access/"))
  .get("/access/", async (c) => {
    // The page connects to entry points: exactly the origins entry nodes published, nothing else.
    securityHeaders(c, cspConnectingTo(await entryUrls(c.get("deps"))));
    return c.html(SHELL);
  })
  .get("/access/assets/access.js", async (c) => {
    const source = (await build()).get("access.js");
    if (source === undefined) return c.notFound();
    securityHeaders(c);
    c.header("content-type", "text/javascript; charset=utf-8");
    return c.body(source);
  })
  .get("/access/assets/rdp-worker.js", async (c) => {
    const source = await buildRenderWorker();
    securityHeaders(c);
    c.header("content-type", "text/javascript; charset=utf-8");
    return c.body(source);
  })
  .get("/access/assets/:file{[a-z]+\\.css}", async (c: Context<AppEnv>) => {
    const file = c.req.param("file") ?? "";
    const path = STYLES[file];
    if (!path) return c.notFound();
    securityHeaders(c);
    c.header("content-type", "text/css; charset=utf-8");
    // Read once per process, like the bundles.
    if (!styles.has(file)) styles.set(file, readText(path()));
    return c.body(await styles.get(file)!);
  });
