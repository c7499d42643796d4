/**
 * The desktop viewer (desktop/screen.ts with its renderer, drawing worker and
 * input capture) in headless Chromium under the portal's exact CSP, without
 * the rest of the portal: a loopback page bundles the screen with a stand-in
 * RDP session that records what the screen sends and lets the test play the
 * adapter. Real PNG (RGB, RGBA, palette, gray), JPEG and SOLID tile messages
 * are drawn and the canvas is compared pixel by pixel (exact for the lossless
 * ones, within a stated tolerance for JPEG), both in the worker (the
 * OffscreenCanvas path) and on the main thread (no worker, and a worker
 * script that does not load); frames are acknowledged only after their last
 * message is drawn; keys, the Ctrl+Alt+Del button, pointer moves, clicks and
 * the wheel produce the exact input events; the toolbar follows the desktop
 * message and the clipboard/file policy.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../../fixtures/test.ts";
import { readText, type RunningServer } from "../../../core/runtime/index.ts";
import { bundleForBrowser, type PageFiles, servePageFiles } from "../../../fixtures/page-server.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type Browser, launchBrowser } from "../../../fixtures/browser.ts";
import { waitFor } from "../../../fixtures/wait.ts";
import { CONSOLE_CSP } from "../../../http/console/routes.ts";
import { encodeTileMessage, type InputEvent, type Tile } from "../client/rdp-wire.ts";
import { encodePng, type PngKind } from "../client/test-png.ts";

setDefaultTimeout(60_000);

const WEB = join(import.meta.dirname, "../..");
let dir: string;
let server: RunningServer;
let browser: Browser;
let page: Page;
const violations: string[] = [];

/**
 * The page: one desktop screen wired to a stand-in session. `?worker=` names the worker script ("" for none).
 * `window.adapter` plays the adapter (desktop, tiles, clipboard, notices, end); `window.sent` is what the screen sent.
 */
const ENTRY = `
import { desktopScreen } from ${JSON.stringify(join(WEB, "access/desktop/screen.ts"))};
import { encodeInputBatch as encodeBatch, parseTileMessage, parseInputBatch } from ${JSON.stringify(join(WEB, "access/client/rdp-wire.ts"))};
const q = new URLSearchParams(location.search);
const policy = { clipboard: q.get("clipboard") ?? "bidirectional", file_transfer: q.get("files") ?? "bidirectional" };
const sent = { input: [], acks: [], resizes: [], quality: [], refresh: 0, clipboard: [], detached: 0, closed: 0 };
const listeners = {};
const emit = (event, value) => (listeners[event] ?? []).forEach((cb) => cb(value));
const session = {
  transport: "webtransport",
  policy,
  hasClipboard: policy.clipboard !== "disabled",
  hasFileTransfer: policy.file_transfer !== "disabled",
  on(event, cb) { (listeners[event] ??= []).push(cb); return () => {}; },
  ack: async (seq) => void sent.acks.push(seq),
  sendInput: async (events) => void sent.input.push(...parseInputBatch(encodeBatch(events))),
  resize: async (w, h) => void sent.resizes.push([w, h]),
  setQuality: async (qq) => void sent.quality.push(qq),
  refresh: async () => void sent.refresh++,
  sendClipboard: async (text) => void sent.clipboard.push(text),
  upload: async (name, data) => ({ name, size: data.size, sha256: "0".repeat(64) }),
  listDownloads: async () => [{ name: "report.txt", size: 12 }],
  download: async (name) => ({ name, bytes: new TextEncoder().encode("hello"), sha256: "" }),
  detach: async () => void sent.detached++,
  close: () => void sent.closed++,
  rtt: () => 12,
  counters: () => ({ renderBytes: 0, frames: sent.acks.length, tiles: 0, lastFrameMs: 3 }),
};
const hexBytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
window.sent = sent;
window.adapter = {
  desktop: (d) => emit("desktop", { profile: "balanced", color_mode: "full", fps: 20, adjustable: false, resizable: false, ...d }),
  tiles: (hex) => { const bytes = hexBytes(hex); emit("tiles", { message: parseTileMessage(bytes), bytes }); },
  clipboard: (text) => emit("clipboard", { type: "clipboard", sequence_id: 1, origin: "server", content_hash: "", text }),
  notice: (n) => emit("notice", n),
  end: (n) => emit("end", n),
};
/** A JPEG of a smooth gradient, made by this browser's encoder, with the source pixels to compare against. */
window.makeJpeg = async (w, h) => {
  const c = new OffscreenCanvas(w, h);
  const g = c.getContext("2d");
  const img = g.createImageData(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data.set([x * 4, y * 4, 128, 255], (y * w + x) * 4);
  g.putImageData(img, 0, 0);
  const blob = await c.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  const bytes = new Uint8Array(await blob.arrayBuffer());
  return { hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""), pixels: Array.from(img.data) };
};
const screen = desktopScreen({ resourceName: "win-1", entryName: "Frankfurt", actions: [], onDetached: () => (location.hash = "#detached"), onReattach: () => {}, workerUrl: q.get("worker") || null });
window.screen_ = screen;
window.region = async (x, y, w, h) => {
  const p = await screen.pixels();
  const out = [];
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) { const i = (yy * p.width + xx) * 4; out.push(p.data[i], p.data[i + 1], p.data[i + 2], p.data[i + 3]); }
  return out;
};
document.body.append(screen.el);
screen.mounted();
screen.attach(session);
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-desktop-screen-"));
  await writeFile(join(dir, "entry.ts"), ENTRY);
  const build = bundleForBrowser;
  const files: PageFiles = {
    "/": [
      '<!doctype html><html><head><link rel="stylesheet" href="/console.css"><link rel="stylesheet" href="/access.css"><script type="module" src="/entry.js"></script></head><body></body></html>',
      "text/html",
    ],
    "/entry.js": [await build(join(dir, "entry.ts")), "text/javascript"],
    "/rdp-worker.js": [await build(join(WEB, "access/desktop/render-worker.ts")), "text/javascript"],
    "/console.css": [await readText(join(WEB, "console.css")), "text/css"],
    "/access.css": [await readText(join(WEB, "access/access.css")), "text/css"],
  };
  server = await servePageFiles(files, { "content-security-policy": CONSOLE_CSP });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  await page.setViewportSize({ width: 1000, height: 700 });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop({ force: true });
  await rm(dir, { recursive: true, force: true });
});

async function open(query: Record<string, string>): Promise<void> {
  await page.goto(`http://127.0.0.1:${server.port}/?${new URLSearchParams(query)}`);
  await page.getByTestId("desktop-page").waitFor();
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sent = () =>
  page.evaluate(
    () =>
      (window as any).sent as {
        input: InputEvent[];
        acks: number[];
        resizes: [number, number][];
        quality: object[];
        refresh: number;
        clipboard: string[];
        detached: number;
      },
  );
const tiles = (m: Parameters<typeof encodeTileMessage>[0]) => page.evaluate((h) => (window as any).adapter.tiles(h), hex(encodeTileMessage(m)));
const region = (x: number, y: number, w: number, h: number) =>
  page.evaluate(([a, b, c, d]) => (window as any).region(a, b, c, d) as Promise<number[]>, [x, y, w, h] as const);

/** A test pattern tile: every pixel distinct enough that a misplaced or scaled tile shows. */
function pattern(w: number, h: number, seed: number, opaque = true): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) px.set([(x * 4 + seed) & 255, (y * 4 + seed * 3) & 255, (x ^ y) * 4 + seed, opaque ? 255 : 255], (y * w + x) * 4);
  return px;
}
/** ≤ 256 colours, for the palette PNG. */
function paletted(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([(x >> 3) * 32, (y >> 3) * 32, 200, 255], (y * w + x) * 4);
  return px;
}
function gray(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = (x * 3 + y * 5) & 255;
      px.set([v, v, v, 255], (y * w + x) * 4);
    }
  return px;
}

/** Lossless kinds and their expected pixels, tiled across a 256×128 desktop (a 64-px grid, edge tiles smaller). */
function losslessFrame(seq: number) {
  const cases: { x: number; y: number; w: number; h: number; kind: PngKind | "solid"; px: Uint8Array }[] = [
    { x: 0, y: 0, w: 64, h: 64, kind: "rgb", px: pattern(64, 64, 1) },
    { x: 64, y: 0, w: 64, h: 64, kind: "rgba", px: pattern(64, 64, 2) },
    { x: 128, y: 0, w: 64, h: 64, kind: "palette", px: paletted(64, 64) },
    { x: 192, y: 0, w: 64, h: 64, kind: "gray", px: gray(64, 64) },
    { x: 0, y: 64, w: 64, h: 64, kind: "solid", px: new Uint8Array(64 * 64 * 4).map((_, i) => [12, 200, 34, 255][i % 4]!) },
    { x: 192, y: 64, w: 40, h: 24, kind: "rgb", px: pattern(40, 24, 9) },
  ];
  const tileList: Tile[] = cases.map((c) =>
    c.kind === "solid"
      ? { x: c.x, y: c.y, w: c.w, h: c.h, encoding: "solid", bytes: new Uint8Array([12, 200, 34, 255]) }
      : { x: c.x, y: c.y, w: c.w, h: c.h, encoding: "png", bytes: encodePng(c.px, c.w, c.h, c.kind) },
  );
  return { cases, message: { frameSeq: seq, last: true, capturedAtUs: 1, tiles: tileList } };
}

async function drawsExactly(mode: string) {
  await page.evaluate(() => (window as any).adapter.desktop({ width: 256, height: 128 }));
  const { cases, message } = losslessFrame(1);
  await tiles(message);
  await waitFor(async () => (await sent()).acks.includes(1), { what: "frame 1 acknowledged" });
  expect(await page.evaluate(() => (window as any).screen_.renderMode())).toBe(mode);
  for (const c of cases) expect(await region(c.x, c.y, c.w, c.h), `${c.kind} at ${c.x},${c.y}`).toEqual(Array.from(c.px));

  // JPEG: this browser's encoder at quality 0.92 on a smooth gradient; each channel within 12 of the source.
  const jpeg = await page.evaluate(() => (window as any).makeJpeg(64, 64) as Promise<{ hex: string; pixels: number[] }>);
  await tiles({
    frameSeq: 2,
    last: true,
    capturedAtUs: 2,
    tiles: [{ x: 64, y: 64, w: 64, h: 64, encoding: "jpeg", bytes: new Uint8Array(Buffer.from(jpeg.hex, "hex")) }],
  });
  await waitFor(async () => (await sent()).acks.includes(2), { what: "frame 2 acknowledged" });
  const got = await region(64, 64, 64, 64);
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - jpeg.pixels[i]!)), 0);
  expect(worst).toBeLessThanOrEqual(12);
  // The tiles around it are untouched.
  expect(await region(0, 64, 64, 64)).toEqual(Array.from(cases[4]!.px));
  expect(violations).toEqual([]);
}

describe("drawing tiles", () => {
  test("in the worker (OffscreenCanvas): PNG of every kind and SOLID exactly, JPEG within tolerance, under the CSP", async () => {
    await open({ worker: "/rdp-worker.js" });
    await drawsExactly("worker");
  });

  test("on the main thread when there is no worker", async () => {
    await open({ worker: "" });
    await drawsExactly("main-thread");
  });

  test("on the main thread when the worker script does not load", async () => {
    await open({ worker: "/missing-worker.js" });
    await drawsExactly("main-thread");
  });

  test("a frame split over messages is acknowledged once, after its last message; a later tile wins", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.evaluate(() => (window as any).adapter.desktop({ width: 256, height: 128 }));
    const solid = (x: number, rgb: number[]): Tile => ({ x, y: 0, w: 64, h: 64, encoding: "solid", bytes: new Uint8Array([...rgb, 255]) });
    await tiles({ frameSeq: 5, last: false, capturedAtUs: 1, tiles: [solid(0, [255, 0, 0]), solid(64, [0, 255, 0])] });
    await tiles({ frameSeq: 5, last: true, capturedAtUs: 1, tiles: [solid(0, [0, 0, 255])] });
    await waitFor(async () => (await sent()).acks.length > 0, { what: "an ack" });
    expect((await sent()).acks).toEqual([5]);
    expect((await region(0, 0, 1, 1)).slice(0, 3)).toEqual([0, 0, 255]);
    expect((await region(64, 0, 1, 1)).slice(0, 3)).toEqual([0, 255, 0]);
  });

  test("a tile that does not decode is reported, the rest is drawn and the frame still acknowledged", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.evaluate(() => (window as any).adapter.desktop({ width: 256, height: 128 }));
    const broken = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    await tiles({
      frameSeq: 9,
      last: true,
      capturedAtUs: 1,
      tiles: [
        { x: 0, y: 0, w: 64, h: 64, encoding: "png", bytes: broken },
        { x: 64, y: 0, w: 64, h: 64, encoding: "solid", bytes: new Uint8Array([1, 2, 3, 255]) },
      ],
    });
    await waitFor(async () => (await sent()).acks.includes(9), { what: "frame 9 acknowledged" });
    expect((await region(64, 0, 1, 1)).slice(0, 3)).toEqual([1, 2, 3]);
    expect(await page.getByTestId("terminal-notice").textContent()).toContain("1 tiles did not decode");
  });
});

describe("keyboard and mouse", () => {
  beforeAll(async () => {
    await open({ worker: "/rdp-worker.js" });
    // Larger than the window: the canvas is scaled down and positions must be scaled back up.
    await page.evaluate(() => (window as any).adapter.desktop({ width: 2000, height: 1000 }));
  });
  const drain = () => page.evaluate(() => (window as any).sent.input.splice(0) as InputEvent[]);

  test("keys go as set-1 scancodes (extended ones with 0x100), keyup too", async () => {
    await page.getByTestId("desktop-canvas").click({ position: { x: 5, y: 5 } });
    await drain();
    for (const k of ["a", "Enter", "ArrowLeft", "ControlRight", "Delete", "F5", "NumpadEnter"]) await page.keyboard.press(k);
    const got = await waitFor(async () => ((await sent()).input.length >= 14 ? await drain() : null), { what: "14 key events" });
    const codes = [0x1e, 0x1c, 0x14b, 0x11d, 0x153, 0x3f, 0x11c];
    expect(got).toEqual(codes.flatMap((scancode) => [{ type: "key", scancode, down: true } as const, { type: "key", scancode, down: false } as const]));
  });

  test("text from an input method goes as unicode key presses", async () => {
    await page.getByTestId("desktop-keys").focus();
    await drain();
    await page.keyboard.insertText("ж€");
    const got = await waitFor(async () => ((await sent()).input.length >= 4 ? await drain() : null), { what: "unicode events" });
    expect(got).toEqual(
      [0x436, 0x20ac].flatMap((codepoint) => [{ type: "unicode", codepoint, down: true } as const, { type: "unicode", codepoint, down: false } as const]),
    );
  });

  test("Ctrl+Alt+Del is sent explicitly from the toolbar", async () => {
    await drain();
    await page.getByTestId("ctrl-alt-del").click();
    const got = await waitFor(async () => ((await sent()).input.some((e) => e.type === "key") ? await drain() : null), { what: "the chord" });
    expect(got.filter((e) => e.type === "key")).toEqual([
      { type: "key", scancode: 0x1d, down: true },
      { type: "key", scancode: 0x38, down: true },
      { type: "key", scancode: 0x153, down: true },
      { type: "key", scancode: 0x153, down: false },
      { type: "key", scancode: 0x38, down: false },
      { type: "key", scancode: 0x1d, down: false },
    ]);
  });

  test("pointer positions are scaled to desktop pixels; moves coalesce; clicks and wheel carry the position first", async () => {
    const box = (await page.getByTestId("desktop-canvas").boundingBox())!;
    expect(box.width).toBeLessThan(2000);
    const scale = 2000 / box.width;
    await page.getByTestId("desktop-canvas").click({ position: { x: 5, y: 5 } });
    await drain();
    for (let i = 1; i <= 20; i++) await page.mouse.move(box.x + 10 + i * 10, box.y + 100);
    const moves = await waitFor(
      async () => {
        const s = (await sent()).input;
        const last = s.at(-1);
        return last?.type === "move" && Math.abs(last.x - Math.floor(210 * scale)) <= 1 ? await drain() : null;
      },
      { what: "the last move" },
    );
    expect(moves.every((e) => e.type === "move")).toBe(true);
    const last = moves.at(-1) as { x: number; y: number };
    expect(Math.abs(last.y - Math.floor(100 * scale))).toBeLessThanOrEqual(1);

    // Twenty moves within one animation frame go out as one, the latest.
    await page.evaluate(
      ([x0, y0]: number[]) => {
        const canvas = document.querySelector("[data-testid=desktop-canvas]")!;
        for (let i = 1; i <= 20; i++) canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: x0! + i, clientY: y0!, bubbles: true }));
      },
      [box.x + 300, box.y + 200],
    );
    const burst = await waitFor(async () => ((await sent()).input.length ? await drain() : null), { what: "the coalesced move" });
    expect(burst).toEqual([{ type: "move", x: Math.floor(320 * scale), y: Math.floor(200 * scale) }]);

    await page.mouse.click(box.x + 50, box.y + 50, { button: "right" });
    const click = await waitFor(async () => ((await sent()).input.filter((e) => e.type === "button").length >= 2 ? await drain() : null), { what: "a click" });
    const buttons = click.filter((e) => e.type === "button");
    expect(buttons).toEqual([
      { type: "button", button: "right", down: true },
      { type: "button", button: "right", down: false },
    ]);
    const before = click[click.indexOf(buttons[0]!) - 1] as { type: string; x: number; y: number };
    expect(before.type).toBe("move");
    expect(Math.abs(before.x - Math.floor(50 * scale))).toBeLessThanOrEqual(1);

    await page.mouse.wheel(0, 100);
    const wheel = await waitFor(async () => ((await sent()).input.some((e) => e.type === "wheel") ? await drain() : null), { what: "a wheel event" });
    expect(wheel.filter((e) => e.type === "wheel")).toEqual([{ type: "wheel", delta: -120, horizontal: false }]);
  });

  test("leaving the desktop releases every key and button", async () => {
    await page.getByTestId("desktop-keys").focus();
    await drain();
    await page.getByTestId("clipboard-toggle").focus();
    const got = await waitFor(async () => ((await sent()).input.length ? await drain() : null), { what: "release all" });
    expect(got).toEqual([{ type: "release_all" }]);
    expect(violations).toEqual([]);
  });
});

describe("toolbar and status", () => {
  test("profile and colour pickers only when the desktop is adjustable; a choice sends quality", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.evaluate(() => (window as any).adapter.desktop({ width: 256, height: 128 }));
    expect(await page.getByTestId("quality-profile").isVisible()).toBe(false);
    await page.evaluate(() => (window as any).adapter.desktop({ width: 256, height: 128, adjustable: true, profile: "text_priority", color_mode: "256" }));
    expect(await page.getByTestId("quality-profile").inputValue()).toBe("text_priority");
    expect(await page.getByTestId("quality-color").inputValue()).toBe("256");
    await page.getByTestId("quality-profile").selectOption("low_bandwidth");
    await page.getByTestId("quality-color").selectOption("grayscale");
    await waitFor(async () => (await sent()).quality.length === 2, { what: "two quality messages" });
    expect((await sent()).quality).toEqual([{ profile: "low_bandwidth" }, { color_mode: "grayscale" }]);
  });

  test("a resizable desktop is asked for the window's size (debounced), and a new size redraws everything", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.evaluate(() => (window as any).adapter.desktop({ width: 800, height: 600, resizable: true }));
    const first = await waitFor(async () => (await sent()).resizes.at(-1), { what: "a resize" });
    const host = (await page.getByTestId("desktop").boundingBox())!;
    expect(first).toEqual([Math.floor(host.width), Math.floor(host.height)]);
    await page.setViewportSize({ width: 900, height: 650 });
    const second = await waitFor(
      async () => {
        const r = (await sent()).resizes;
        return r.length > 1 ? r.at(-1) : null;
      },
      { what: "a second resize" },
    );
    expect(second![0]).toBeLessThan(first[0]);
    await page.evaluate(([w, h]) => (window as any).adapter.desktop({ width: w, height: h, resizable: true }), second!);
    await waitFor(async () => (await sent()).refresh === 1, { what: "a refresh after the new size" });
    await page.setViewportSize({ width: 1000, height: 700 });
  });

  test("the stats overlay shows fps, bytes/s, latency and transport", async () => {
    await open({ worker: "/rdp-worker.js" });
    const text = await waitFor(async () => {
      const t = (await page.getByTestId("desktop-stats").textContent()) ?? "";
      return t.includes("fps") ? t : null;
    });
    expect(text).toContain("RTT 12 ms");
    expect(text).toContain("WebTransport");
    expect(text).toMatch(/\/s/);
  });

  test("clipboard both ways when bidirectional: send text, see the server's", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.getByTestId("clipboard-toggle").click();
    await page.getByTestId("clipboard-to-server").fill("from the browser");
    await page.getByTestId("clipboard-send").click();
    await waitFor(async () => (await sent()).clipboard.length === 1, { what: "clipboard sent" });
    expect((await sent()).clipboard).toEqual(["from the browser"]);
    await page.evaluate(() => (window as any).adapter.clipboard("copied remotely"));
    expect(await page.getByTestId("clipboard-from-server").textContent()).toBe("copied remotely");
  });

  test("clipboard and files follow the policy: one direction only, or not at all", async () => {
    await open({ worker: "/rdp-worker.js", clipboard: "server_to_client", files: "client_to_server" });
    await page.getByTestId("clipboard-toggle").click();
    expect(await page.getByTestId("clipboard-send").count()).toBe(0);
    expect(await page.getByTestId("clipboard-from-server").count()).toBe(1);
    expect(await page.getByTestId("upload").isVisible()).toBe(true);
    expect(await page.getByTestId("downloads").isVisible()).toBe(false);

    await open({ worker: "/rdp-worker.js", clipboard: "disabled", files: "disabled" });
    for (const id of ["clipboard-toggle", "upload", "downloads"]) expect(await page.getByTestId(id).isVisible()).toBe(false);
  });

  test("upload sends the chosen file; downloads are listed", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.getByTestId("upload-input").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("twelve bytes") });
    await page.getByTestId("upload-done").waitFor();
    expect(await page.getByTestId("upload-done").textContent()).toContain("Uploaded notes.txt (12 B)");
    await page.getByTestId("downloads").click();
    await page.getByTestId("download-report.txt").waitFor();
  });

  test("taken over: input stops and the screen says so; an adapter notice is shown and the session goes on", async () => {
    await open({ worker: "/rdp-worker.js" });
    await page.evaluate(() =>
      (window as any).adapter.notice({
        code: "rdp.quality_locked",
        message_key: "",
        fallback_message: "Quality is fixed by policy.",
        details: {},
        channel: "input",
      }),
    );
    expect(await page.getByTestId("adapter-notice").getAttribute("data-code")).toBe("rdp.quality_locked");
    expect(await page.getByTestId("terminal-state").textContent()).toBe("Connected");
    await page.evaluate(() => (window as any).adapter.end({ type: "session.taken_over", error: {} }));
    expect(await page.getByTestId("terminal-state").textContent()).toBe("Taken over");
    expect(await page.getByTestId("terminal-notice").textContent()).toContain("This session was taken over on another device.");
    expect(await page.getByTestId("ctrl-alt-del").isDisabled()).toBe(true);
    const before = (await sent()).input.length;
    await page.getByTestId("desktop-keys").focus();
    await page.keyboard.press("a");
    expect((await sent()).input.length).toBe(before);
    expect(violations).toEqual([]);
  });
});
