/**
 * The access client library in headless Debian Chromium against the real
 * entry listener (`entry-harness`, echo upstream): once over WebTransport
 * (HTTP/3, the self-signed certificate accepted by its hash through
 * `serverCertificateHashes`), once with WebTransport removed from the page,
 * so the same library falls back to the `@moq/web-transport-ws` polyfill
 * over TLS (Chromium trusts that certificate by its public key). In both,
 * keys typed into the page go out on the input channel and their echo comes
 * back on render.
 */
import { afterAll, beforeAll, describe, expect, test } from "../../../fixtures/test.ts";
import type { RunningServer } from "../../../core/runtime/index.ts";
import { bundleForBrowser, servePageFiles } from "../../../fixtures/page-server.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, launchBrowser } from "../../../fixtures/browser.ts";
import { type EntryHarness, startEntryHarness } from "../../../fixtures/entry-harness.ts";

const ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>access client test</title></head>
<body><p id="status">connecting</p><textarea id="input"></textarea><pre id="render"></pre><script type="module" src="/page.js"></script></body></html>`;

let dir: string;
let harness: EntryHarness;
let server: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-entry-browser-"));
  harness = await startEntryHarness(join(dir, "entry.pem"));
  const script = await bundleForBrowser(join(import.meta.dirname, "test-page.ts"));
  server = await servePageFiles({ "/": [PAGE, "text/html"], "/page.js": [script, "text/javascript"] });
}, 900_000);

afterAll(async () => {
  await server?.stop({ force: true });
  await harness?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function typeAndSeeEcho(browser: Browser, nowt: boolean) {
  const page = await browser.context.newPage();
  const query = new URLSearchParams({ url: harness.url, hash: harness.certificateSha256, token: "good", nowt: nowt ? "1" : "0" });
  await page.goto(`http://127.0.0.1:${server.port}/?${query}`);
  const status = page.locator("#status");
  await page.waitForFunction(
    () => (document.getElementById("status")?.textContent ?? "").startsWith("connected") || !!document.getElementById("status")?.dataset.error,
    null,
    { timeout: 30_000 },
  );
  const transport = await status.getAttribute("data-transport");
  expect(await status.getAttribute("data-error")).toBeNull();
  await page.locator("#input").pressSequentially("echo typed in chromium");
  await page.locator("#input").press("Enter");
  await page.waitForFunction(() => (document.getElementById("render")?.textContent ?? "").includes("echo typed in chromium\r"), null, { timeout: 30_000 });
  await page.close();
  return transport;
}

describe("access client in Chromium", () => {
  test("over WebTransport with serverCertificateHashes, typed keys echo back on render", async () => {
    const browser = await launchBrowser({ args: ARGS });
    try {
      expect(await typeAndSeeEcho(browser, false)).toBe("webtransport");
    } finally {
      await browser.close();
    }
  }, 120_000);

  test("with WebTransport removed from the page, the same library falls back to WebSocket and the echo still comes back", async () => {
    const browser = await launchBrowser({ args: [...ARGS, `--ignore-certificate-errors-spki-list=${harness.spkiSha256}`] });
    try {
      expect(await typeAndSeeEcho(browser, true)).toBe("websocket");
    } finally {
      await browser.close();
    }
  }, 120_000);
});
