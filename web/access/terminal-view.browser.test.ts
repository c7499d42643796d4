/**
 * The terminal view (xterm.js with csp-styles.ts) in headless Chromium under
 * the portal's exact CSP, without the rest of the portal: a page served from
 * loopback bundles only these two modules. Output shows with its colours
 * (palette and 24-bit) and no CSP violation, keystrokes come out as bytes,
 * and a window resize reports the new size in cells. Without the style shim
 * xterm.js's inline styles are refused, which this test would report.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { launchBrowser, type Browser } from "../../fixtures/browser.ts";
import { CONSOLE_CSP } from "../../http/console/routes.ts";
import { waitFor } from "../../fixtures/wait.ts";

setDefaultTimeout(60_000);

const WEB = join(import.meta.dir, "..");
let dir: string;
let server: ReturnType<typeof Bun.serve>;
let browser: Browser;
let page: Page;
const violations: string[] = [];

const ENTRY = `
import { installCspSafeStyles } from ${JSON.stringify(join(WEB, "access/csp-styles.ts"))};
import { terminalView } from ${JSON.stringify(join(WEB, "access/terminal-view.ts"))};
installCspSafeStyles();
const page = document.createElement("div");
page.className = "terminal-page";
const v = terminalView();
page.append(v.el);
document.body.append(page);
v.open();
const seen = { input: [], sizes: [] };
window.seen = seen;
v.onInput((bytes) => seen.input.push(...bytes));
v.onResize((cols, rows) => seen.sizes.push([cols, rows]));
window.size = () => v.size();
v.write("plain \\x1b[31mred\\x1b[0m \\x1b[38;2;0;200;0mgreen\\x1b[0m\\r\\n$ ");
v.focus();
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-terminal-view-"));
  await writeFile(join(dir, "entry.ts"), ENTRY);
  const out = await Bun.build({ entrypoints: [join(dir, "entry.ts")], target: "browser", format: "esm" });
  if (!out.success) throw new Error(out.logs.map((l) => l.message).join("; "));
  const files: Record<string, [string, string]> = {
    "/": [
      '<!doctype html><html><head><link rel="stylesheet" href="/console.css"><link rel="stylesheet" href="/xterm.css"><link rel="stylesheet" href="/access.css"><script type="module" src="/entry.js"></script></head><body></body></html>',
      "text/html",
    ],
    "/entry.js": [await out.outputs[0]!.text(), "text/javascript"],
    "/console.css": [await Bun.file(join(WEB, "console.css")).text(), "text/css"],
    "/xterm.css": [await Bun.file(Bun.resolveSync("@xterm/xterm/css/xterm.css", WEB)).text(), "text/css"],
    "/access.css": [await Bun.file(join(WEB, "access/access.css")).text(), "text/css"],
  };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const f = files[new URL(req.url).pathname];
      return f ? new Response(f[0], { headers: { "content-type": f[1], "content-security-policy": CONSOLE_CSP } }) : new Response("", { status: 404 });
    },
  });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  await page.setViewportSize({ width: 1000, height: 600 });
  await page.goto(`http://127.0.0.1:${server.port}/`);
  await page.locator(".xterm-rows").getByText("green").waitFor();
});

afterAll(async () => {
  await browser?.close();
  server?.stop(true);
  await rm(dir, { recursive: true, force: true });
});

const colorOf = (text: string) =>
  page.evaluate((t) => {
    const span = [...document.querySelectorAll(".xterm-rows span")].find((s) => s.textContent === t);
    return span ? getComputedStyle(span).color : null;
  }, text);

test("output shows with palette and 24-bit colours under the strict CSP, filling the window, with no violation", async () => {
  expect(await colorOf("green")).toBe("rgb(0, 200, 0)");
  const red = await colorOf("red");
  expect(red).not.toBeNull();
  expect(red).not.toBe(await colorOf("plain "));
  const box = await page.locator(".xterm-screen").boundingBox();
  expect(box!.width).toBeGreaterThan(900);
  expect(box!.height).toBeGreaterThan(500);
  expect(await page.evaluate(() => document.querySelectorAll("style").length)).toBe(0);
  expect(violations).toEqual([]);
});

test("keystrokes come out as bytes", async () => {
  await page.keyboard.type("ls -l");
  await page.keyboard.press("Enter");
  await waitFor(async () => (await page.evaluate(() => (window as any).seen.input.length)) >= 6, { timeoutMs: 5000, what: "typed bytes" });
  const bytes: number[] = await page.evaluate(() => (window as any).seen.input);
  expect(new TextDecoder().decode(new Uint8Array(bytes))).toBe("ls -l\r");
});

test("a window resize reports the new size in cells", async () => {
  const before: { cols: number; rows: number } = await page.evaluate(() => (window as any).size());
  await page.setViewportSize({ width: 700, height: 400 });
  const sizes = await waitFor(
    async () => {
      const s: [number, number][] = await page.evaluate(() => (window as any).seen.sizes);
      return s.length > 0 ? s : null;
    },
    { timeoutMs: 5000, what: "a resize" },
  );
  const [cols, rows] = sizes[sizes.length - 1]!;
  expect(cols).toBeLessThan(before.cols);
  expect(rows).toBeLessThan(before.rows);
  expect(await page.evaluate(() => (window as any).size())).toEqual({ cols, rows });
  expect(violations).toEqual([]);
});
