/**
 * The terminal screen (terminal-screen.ts: xterm.js with csp-styles.ts, the
 * status line and the wiring to a transport) in headless Chromium under the
 * portal's exact CSP, without the rest of the portal: a loopback page bundles
 * only these modules and a stand-in `TerminalTransport` that records what the
 * screen sends and lets the test play the entry (output, notices, RTT). It
 * checks the portal's side of the data-plane seam: output shows with its
 * colours (palette and 24-bit) and no CSP violation (without the style shim
 * xterm.js's inline styles are refused, and this fails), keystrokes go out as
 * bytes, a window resize is sent in cells, the status line shows the
 * transport and RTT, `session.taken_over` / `session.ended` stop input
 * and say so, an error event or a closed connection offers to reattach, and
 * Detach detaches.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { readText, type RunningServer } from "../../core/runtime/index.ts";
import { bundleForBrowser, packageFile, type PageFiles, servePageFiles } from "../../fixtures/page-server.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { launchBrowser, type Browser } from "../../fixtures/browser.ts";
import { CONSOLE_CSP } from "../../http/console/routes.ts";
import { waitFor } from "../../fixtures/wait.ts";

setDefaultTimeout(60_000);

const WEB = join(import.meta.dirname, "..");
let dir: string;
let server: RunningServer;
let browser: Browser;
let page: Page;
const violations: string[] = [];

/** The page: one screen wired to a stand-in transport; `window.entry` plays the entry node, `window.sent` is what reached it. */
const ENTRY = `
import { installCspSafeStyles } from ${JSON.stringify(join(WEB, "access/csp-styles.ts"))};
import { terminalScreen } from ${JSON.stringify(join(WEB, "access/terminal-screen.ts"))};
installCspSafeStyles();
const sent = { input: [], sizes: [], detached: 0, closed: 0, reattach: 0 };
const cbs = { output: [], notice: [], close: [] };
let rtt = null;
const transport = {
  transport: "webtransport",
  send: (bytes) => sent.input.push(...bytes),
  resize: (cols, rows) => sent.sizes.push([cols, rows]),
  onOutput: (cb) => cbs.output.push(cb),
  onNotice: (cb) => cbs.notice.push(cb),
  onClose: (cb) => cbs.close.push(cb),
  rtt: () => rtt,
  detach: async () => void sent.detached++,
  close: () => void sent.closed++,
};
window.sent = sent;
window.entry = {
  output: (text) => cbs.output.forEach((cb) => cb(new TextEncoder().encode(text))),
  notice: (n) => cbs.notice.forEach((cb) => cb(n)),
  rtt: (ms) => (rtt = ms),
  close: () => cbs.close.forEach((cb) => cb()),
};
const screen = terminalScreen({ resourceName: "db-1", entryName: "Frankfurt", actions: [], onDetached: () => (location.hash = "#detached"), onReattach: () => void sent.reattach++ });
document.body.append(screen.el);
screen.mounted();
screen.attach(transport);
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-terminal-screen-"));
  await writeFile(join(dir, "entry.ts"), ENTRY);
  const files: PageFiles = {
    "/": [
      '<!doctype html><html><head><link rel="stylesheet" href="/console.css"><link rel="stylesheet" href="/xterm.css"><link rel="stylesheet" href="/access.css"><script type="module" src="/entry.js"></script></head><body></body></html>',
      "text/html",
    ],
    "/entry.js": [await bundleForBrowser(join(dir, "entry.ts")), "text/javascript"],
    "/console.css": [await readText(join(WEB, "console.css")), "text/css"],
    "/xterm.css": [await readText(packageFile("@xterm/xterm/css/xterm.css", WEB)), "text/css"],
    "/access.css": [await readText(join(WEB, "access/access.css")), "text/css"],
  };
  server = await servePageFiles(files, { "content-security-policy": CONSOLE_CSP });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  await page.setViewportSize({ width: 1000, height: 600 });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop({ force: true });
  await rm(dir, { recursive: true, force: true });
});

async function open(): Promise<void> {
  await page.goto(`http://127.0.0.1:${server.port}/`);
  await page.getByTestId("terminal-page").waitFor();
  await page.locator(".xterm-rows").waitFor();
}

const text = async (testid: string) => ((await page.getByTestId(testid).textContent()) ?? "").trim();
const sent = () =>
  page.evaluate(() => (window as any).sent as { input: number[]; sizes: [number, number][]; detached: number; closed: number; reattach: number });
const colorOf = (t: string) =>
  page.evaluate((want) => {
    const span = [...document.querySelectorAll(".xterm-rows span")].find((s) => s.textContent === want);
    return span ? getComputedStyle(span).color : null;
  }, t);

describe("a connected terminal screen", () => {
  beforeAll(open);

  test("shows output with palette and 24-bit colours under the strict CSP, filling the window, with no violation", async () => {
    await page.evaluate(() => (window as any).entry.output("plain \x1b[31mred\x1b[0m \x1b[38;2;0;200;0mgreen\x1b[0m\r\n$ "));
    await page.locator(".xterm-rows").getByText("green").waitFor();
    expect(await colorOf("green")).toBe("rgb(0, 200, 0)");
    const red = await colorOf("red");
    expect(red).not.toBeNull();
    expect(red).not.toBe(await colorOf("plain "));
    const box = await page.locator(".xterm-screen").boundingBox();
    expect(box!.width).toBeGreaterThan(900);
    expect(box!.height).toBeGreaterThan(450);
    expect(await page.evaluate(() => document.querySelectorAll("style").length)).toBe(0);
    expect(violations).toEqual([]);
  });

  test("the status line names the resource, the entry point, the transport and the RTT", async () => {
    expect(await text("terminal-resource")).toBe("db-1");
    expect(await text("terminal-entry")).toBe("Frankfurt");
    expect(await text("terminal-transport")).toBe("WebTransport");
    expect(await text("terminal-state")).toBe("Connected");
    await page.evaluate(() => (window as any).entry.rtt(12.4));
    await waitFor(async () => (await text("terminal-rtt")) === "12 ms", { timeoutMs: 5000, what: "the RTT" });
  });

  test("sends the size on connect, keystrokes as bytes, and the new size after a window resize", async () => {
    const first = (await sent()).sizes;
    expect(first.length).toBeGreaterThanOrEqual(1);
    await page.keyboard.type("echo $X");
    await page.keyboard.press("Enter");
    await waitFor(async () => (await sent()).input.length >= 8, { timeoutMs: 5000, what: "typed bytes" });
    expect(new TextDecoder().decode(new Uint8Array((await sent()).input))).toBe("echo $X\r");

    const [cols, rows] = first[first.length - 1]!;
    await page.setViewportSize({ width: 700, height: 400 });
    const after = await waitFor(
      async () => {
        const s = (await sent()).sizes;
        return s.length > first.length ? s[s.length - 1]! : null;
      },
      { timeoutMs: 5000, what: "a resize" },
    );
    expect(after[0]).toBeLessThan(cols);
    expect(after[1]).toBeLessThan(rows);
    await page.setViewportSize({ width: 1000, height: 600 });
  });

  test("session.taken_over says so clearly and disables input and Detach", async () => {
    const before = (await sent()).input.length;
    await page.evaluate(() => (window as any).entry.notice({ type: "session.taken_over" }));
    expect(await text("terminal-state")).toBe("Taken over");
    expect(await text("terminal-notice")).toContain("This session was taken over on another device. Input is disabled here.");
    expect(await page.getByTestId("detach").isDisabled()).toBe(true);
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("ls");
    expect((await sent()).input.length).toBe(before);
    expect(violations).toEqual([]);
  });
});

describe("a fresh terminal screen", () => {
  beforeAll(open);

  test("session.ended stops input and names the reason", async () => {
    await page.evaluate(() => (window as any).entry.notice({ type: "session.ended", reason: "detached_timeout" }));
    expect(await text("terminal-state")).toBe("Ended");
    expect(await text("terminal-notice")).toContain("The session has ended (detached_timeout).");
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("ls");
    expect((await sent()).input).toEqual([]);
  });

  test("an error event from the entry, then the close, leaves the reason on screen and offers to reattach", async () => {
    await open();
    await page.evaluate(() =>
      (window as any).entry.notice({
        type: "error",
        error: {
          code: "data_plane.token_replayed",
          message_key: "k",
          fallback_message: "The connection token was already used. Connect again.",
          details: {},
          trace_id: "t",
        },
      }),
    );
    await page.evaluate(() => (window as any).entry.close());
    expect(await text("terminal-state")).toBe("Disconnected");
    expect(await text("terminal-notice")).toContain("The connection token was already used. Connect again. (data_plane.token_replayed)");
    await page.getByTestId("reconnect").click();
    expect((await sent()).reattach).toBe(1);
  });

  test("a connection that closes on its own offers to reattach", async () => {
    await open();
    await page.evaluate(() => (window as any).entry.close());
    expect(await text("terminal-state")).toBe("Disconnected");
    expect(await text("terminal-notice")).toContain("The connection closed.");
    expect(await page.getByTestId("detach").isDisabled()).toBe(true);
  });

  test("Detach asks the transport to detach, then leaves the page", async () => {
    await open();
    await page.getByTestId("detach").click();
    await page.waitForURL(/#detached$/);
    expect((await sent()).detached).toBe(1);
    expect(await text("terminal-state")).toBe("Detached");
    expect(violations).toEqual([]);
  });
});
