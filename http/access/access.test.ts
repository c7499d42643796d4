/**
 * The access portal's page over the in-process app: served at /access/ with
 * the console's strict CSP, only local assets (its bundle with xterm.js, the
 * shared stylesheet, xterm.js's and its own), no inline code, no secret, and
 * nothing of another app's paths served under its own.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { CONSOLE_CSP } from "../console/routes.ts";

setDefaultTimeout(60_000);
const stores = useStores();
let t: TestApp;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
});

describe("access portal page", () => {
  test("is served with the console's strict CSP, local assets only and no inline code or secret", async () => {
    const res = await t.app.request("/access/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    const csp = res.headers.get("content-security-policy") ?? "";
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(csp).toContain(d);
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style|style=|token|secret/i);
    expect(html).toContain('<script type="module" src="/access/assets/access.js"></script>');
    const links = [...html.matchAll(/<link rel="(?:stylesheet|icon)" href="([^"]+)"/g)].map((m) => m[1]);
    expect(links).toEqual(["/console/assets/icon.svg", "/console/assets/console.css", "/access/assets/xterm.css", "/access/assets/access.css"]);
    for (const href of links) expect((await t.app.request(href!)).status).toBe(200);
    const bare = await t.app.request("/access");
    expect(bare.status).toBe(302);
    expect(bare.headers.get("location")).toBe("/access/");
  });

  test("the bundle holds the portal, xterm.js and the access client, and names no other origin", async () => {
    const js = await t.app.request("/access/assets/access.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect(js.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    const source = await js.text();
    expect(source).toContain("/remote-sessions");
    expect(source).toContain("xterm-helper-textarea");
    // The data-plane client: WebTransport with certificate pinning, and the WebSocket fallback's subprotocol.
    expect(source).toContain("serverCertificateHashes");
    expect(source).toContain("webtransport");
    expect(source).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    // The portal's bundle is not served under the console's path, and the console's bundles stay where they were.
    expect((await t.app.request("/console/assets/access.js")).status).toBe(404);
    expect((await t.app.request("/console/assets/console.js")).status).toBe(200);
  });

  test("the desktop's drawing worker is a local script under the same headers, and names no other origin", async () => {
    const js = await t.app.request("/access/assets/rdp-worker.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect(js.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    const source = await js.text();
    // It decodes tiles and draws them on the canvas the page hands over.
    expect(source).toContain("createImageBitmap");
    expect(source).toContain("drawImage");
    expect(source).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  test("the page may connect to the entry points entry nodes published, over WebTransport and WebSocket, and nowhere else", async () => {
    await stores.store.db.query(
      "insert into entry_endpoints (node_id, cluster_id, urls, certificate_hashes, updated_at) values (gen_random_uuid(), gen_random_uuid(), $1::text[], '{}', now())",
      ["{https://fra-1.access.example.test:4433/rap/v1,https://[2001:db8::7]:443/rap/v1}"],
    );
    const csp = (await t.app.request("/access/")).headers.get("content-security-policy") ?? "";
    const connect = csp.split("; ").find((d) => d.startsWith("connect-src "))!;
    expect(connect.split(" ").sort()).toEqual(
      [
        "'self'",
        "connect-src",
        "https://fra-1.access.example.test:4433",
        "wss://fra-1.access.example.test:4433",
        "https://[2001:db8::7]",
        "wss://[2001:db8::7]",
      ].sort(),
    );
    // Everything else stays the console's.
    expect(csp.replace(connect, "connect-src 'self'")).toBe(CONSOLE_CSP);
    // The console's own pages connect to their origin only.
    expect((await t.app.request("/console/")).headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    await stores.store.db.query("delete from entry_endpoints");
  });

  test("stylesheets are local CSS under the same headers; anything else is 404", async () => {
    const xterm = await t.app.request("/access/assets/xterm.css");
    expect(xterm.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(xterm.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(await xterm.text()).toContain(".xterm-helper-textarea");
    const own = await (await t.app.request("/access/assets/access.css")).text();
    expect(own).toContain(".terminal-page");
    for (const css of [await (await t.app.request("/access/assets/xterm.css")).text(), own]) expect(css).not.toMatch(/@import|url\(\s*["']?https?:/);
    for (const path of ["/access/assets/nope.css", "/access/assets/nope.js", "/access/assets/console.js", "/access/assets/..%2Fconsole.css", "/access/other"])
      expect((await t.app.request(path)).status).toBe(404);
  });
});
