/**
 * The desktop screen of an RDP session: the status line the terminal has
 * (resource, entry point by name, transport, state, Detach and the page's
 * actions) with a toolbar (Ctrl+Alt+Del, profile and colour when the
 * resource allows changing them, clipboard, upload, downloads), a notice
 * area, and the desktop: a canvas drawn by renderer.ts (in a worker where the
 * browser allows), keyboard and mouse from input.ts, and a small stats
 * overlay (fps, bytes/s, latency, transport). A frame is acknowledged once
 * its last message is on the canvas. The window's size is asked of the
 * server (debounced) when it can follow. Like terminal-screen.ts it does no
 * API call and knows no URL: the page hands it a connected session.
 */
import { h, mount, type Child } from "../../lib/dom.ts";
import { allowsToClient, allowsToServer, type RdpNotice } from "../client/rdp-session.ts";
import { COLOR_MODES, type DesktopInfo, MAX_DESKTOP, MIN_DESKTOP, PROFILES, type RdpStats } from "../client/rdp-wire.ts";
import type { Notice } from "../client/connect.ts";
import { sessionStatusBar } from "../session-status.ts";
import { transportLabel } from "../transport-choice.ts";
import { captureInput, type InputCapture } from "./input.ts";
import { createRenderer, type Pixels, type Renderer } from "./renderer.ts";
import { CTRL_ALT_DEL } from "./scancodes.ts";
import type { DesktopSession } from "./session.ts";

export type { DesktopSession } from "./session.ts";

export type Tone = "info" | "bad";

export interface DesktopScreen {
  el: HTMLElement;
  mounted(): void;
  setEntry(name: string): void;
  setState(text: string): void;
  setTransport(text: string): void;
  show(tone: Tone, ...children: Child[]): void;
  attach(s: DesktopSession): void;
  stop(state: string): void;
  dispose(): void;
  /** Where tiles are drawn ("worker" or "main-thread"), once attached. */
  renderMode(): Promise<string>;
  /** The desktop's pixels as drawn so far (tests, screenshots); null before attach. */
  pixels(): Promise<Pixels | null>;
}

const PROFILE_LABELS: Record<string, string> = {
  high_quality: "High quality",
  balanced: "Balanced",
  text_priority: "Text priority",
  low_bandwidth: "Low bandwidth",
  emergency_grayscale: "Emergency (grayscale)",
};
const COLOR_LABELS: Record<string, string> = { full: "Full colour", "256": "256 colours", "64": "64 colours", "16": "16 colours", grayscale: "Grayscale" };
const STATS_EVERY_MS = 1000;
const RESIZE_DEBOUNCE_MS = 400;

const formatBytes = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${Math.round(n)} B`);

function saveFile(name: string, bytes: Uint8Array) {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const a = h("a", { href: url, download: name, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function desktopScreen(o: {
  resourceName: string;
  entryName: string;
  actions: HTMLElement[];
  onDetached: () => void;
  onReattach: () => void;
  /** The drawing worker's script; null draws on the main thread. */
  workerUrl: string | URL | null;
}): DesktopScreen {
  const cell = (testid: string, text: string) => h("span", { "data-testid": testid }, text);
  const state = cell("terminal-state", "Connecting…");
  const entry = cell("terminal-entry", o.entryName);
  const via = cell("terminal-transport", "—");
  const notice = h("div", { class: "terminal-notice hidden", role: "status", "data-testid": "terminal-notice" });
  const canvas = h("canvas", { class: "desktop-canvas", "data-testid": "desktop-canvas", width: 1, height: 1 });
  const sink = h("textarea", {
    class: "desktop-keys",
    "data-testid": "desktop-keys",
    "aria-label": "Remote desktop keyboard",
    autocomplete: "off",
    spellcheck: "false",
  });
  const stats = h("div", { class: "desktop-stats", "data-testid": "desktop-stats" }, "—");
  const host = h("div", { class: "desktop-host", "data-testid": "desktop" }, canvas, sink, stats);
  const panel = h("div", { class: "desktop-panel hidden", "data-testid": "desktop-panel" });

  let session: DesktopSession | null = null;
  let renderer: Promise<Renderer> | null = null;
  let input: InputCapture | null = null;
  let desktop: DesktopInfo | null = null;
  let adapterStats: RdpStats | null = null;
  let finished = false;
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  let lastAsked = "";
  const unsubscribe: (() => void)[] = [];
  const observer = new ResizeObserver(() => {
    fit();
    scheduleResize();
  });

  const show = (tone: Tone, ...children: Child[]) => {
    notice.className = `terminal-notice ${tone}`;
    mount(notice, ...children);
  };
  const sessionsLink = () => h("a", { href: "#/sessions" }, "My sessions");
  const reattachButton = () => h("button", { type: "button", "data-testid": "reconnect", onclick: o.onReattach }, "Reattach");
  const button = (testid: string, label: string, onclick: () => void, title?: string) =>
    h("button", { type: "button", "data-testid": testid, disabled: true, title, onclick }, label);

  // ------------------------------------------------------------ toolbar

  const cad = button("ctrl-alt-del", "Ctrl+Alt+Del", () => input?.chord(CTRL_ALT_DEL), "Send Ctrl+Alt+Del to the remote desktop");
  const profile = h(
    "select",
    { "data-testid": "quality-profile", "aria-label": "Quality profile", class: "hidden", onchange: () => void quality({ profile: profile.value }) },
    PROFILES.map((p) => h("option", { value: p }, PROFILE_LABELS[p] ?? p)),
  );
  const colour = h(
    "select",
    { "data-testid": "quality-color", "aria-label": "Colours", class: "hidden", onchange: () => void quality({ color_mode: colour.value }) },
    COLOR_MODES.map((c) => h("option", { value: c }, COLOR_LABELS[c] ?? c)),
  );
  const clipboardButton = button("clipboard-toggle", "Clipboard", () => togglePanel("clipboard"));
  const fileInput = h("input", { type: "file", class: "hidden", "data-testid": "upload-input", onchange: () => void uploadChosen() });
  const uploadButton = button("upload", "Upload", () => fileInput.click(), "Upload a file to the remote desktop's RAP_Transfers drive");
  const downloadsButton = button("downloads", "Downloads", () => togglePanel("downloads"), "Files the remote desktop put in RAP_Transfers\\ToClient");
  for (const b of [clipboardButton, uploadButton, downloadsButton]) b.classList.add("hidden");

  const detach = button("detach", "Detach", async () => {
    const s = session;
    if (!s) return;
    detach.disabled = true;
    await s.detach().catch(() => s.close());
    stop("Detached");
    o.onDetached();
  });

  async function quality(q: { profile?: string; color_mode?: string }) {
    try {
      await session?.setQuality(q);
    } catch (err) {
      show("bad", (err as Error).message);
    }
  }

  // ------------------------------------------------------------ panels: clipboard and downloads

  let openPanel: "clipboard" | "downloads" | null = null;
  const fromServer = h("pre", { class: "desktop-clip", "data-testid": "clipboard-from-server" }, "");
  const toServer = h("textarea", { rows: 3, "data-testid": "clipboard-to-server", "aria-label": "Text for the remote clipboard" });
  const clipStatus = h("span", { class: "muted", "data-testid": "clipboard-status" });

  function clipboardPanel(s: DesktopSession): Child[] {
    const out: Child[] = [];
    if (allowsToServer(s.policy.clipboard))
      out.push(
        h(
          "div",
          {},
          h("label", {}, "Send to the remote clipboard"),
          toServer,
          h(
            "button",
            {
              type: "button",
              "data-testid": "clipboard-send",
              onclick: async () => {
                try {
                  await s.sendClipboard(toServer.value);
                  clipStatus.textContent = "Sent.";
                } catch (err) {
                  clipStatus.textContent = (err as Error).message;
                }
              },
            },
            "Send",
          ),
          " ",
          clipStatus,
        ),
      );
    if (allowsToClient(s.policy.clipboard))
      out.push(
        h(
          "div",
          {},
          h("label", {}, "Last text copied on the remote desktop"),
          fromServer,
          h(
            "button",
            {
              type: "button",
              "data-testid": "clipboard-copy",
              onclick: () => void navigator.clipboard?.writeText(fromServer.textContent ?? "").catch(() => undefined),
            },
            "Copy to this computer",
          ),
        ),
      );
    return out;
  }

  async function downloadsPanel(s: DesktopSession): Promise<Child[]> {
    try {
      const files = await s.listDownloads();
      if (files.length === 0)
        return [h("p", { class: "muted", "data-testid": "downloads-empty" }, "No files in RAP_Transfers\\ToClient on the remote desktop.")];
      return [
        h(
          "ul",
          { class: "desktop-files", "data-testid": "downloads-list" },
          files.map((f) =>
            h(
              "li",
              {},
              h("span", {}, f.name),
              h("span", { class: "muted" }, ` ${formatBytes(f.size)} `),
              h(
                "button",
                {
                  type: "button",
                  "data-testid": `download-${f.name}`,
                  onclick: async () => {
                    try {
                      show("info", `Downloading ${f.name}…`);
                      const r = await s.download(f.name, {
                        onProgress: (n, total) => show("info", `Downloading ${f.name}: ${formatBytes(n)} of ${formatBytes(total)}`),
                      });
                      saveFile(r.name, r.bytes);
                      show("info", `Downloaded ${r.name} (${formatBytes(r.bytes.length)}).`);
                    } catch (err) {
                      show("bad", `Download failed: ${(err as Error).message}`);
                    }
                  },
                },
                "Download",
              ),
            ),
          ),
        ),
      ];
    } catch (err) {
      return [h("p", { class: "bad" }, `Could not list the files: ${(err as Error).message}`)];
    }
  }

  async function togglePanel(which: "clipboard" | "downloads") {
    const s = session;
    if (!s) return;
    if (openPanel === which) {
      openPanel = null;
      panel.className = "desktop-panel hidden";
      return;
    }
    openPanel = which;
    panel.className = "desktop-panel";
    mount(panel, which === "clipboard" ? clipboardPanel(s) : h("p", { class: "muted" }, "Listing files…"));
    if (which === "downloads") {
      const children = await downloadsPanel(s);
      if (openPanel === "downloads") mount(panel, children);
    }
  }

  async function uploadChosen() {
    const file = fileInput.files?.[0];
    fileInput.value = "";
    if (!file || !session) return;
    try {
      show("info", `Uploading ${file.name}…`);
      const r = await session.upload(file.name, file, {
        onProgress: (n, total) => show("info", `Uploading ${file.name}: ${formatBytes(n)} of ${formatBytes(total)}`),
      });
      show("info", h("span", { "data-testid": "upload-done" }, `Uploaded ${r.name} (${formatBytes(r.size)}) to RAP_Transfers.`));
    } catch (err) {
      show("bad", `Upload failed: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------ the desktop

  /** The canvas keeps the desktop's aspect ratio inside the host, never enlarged past 1:1 (that only blurs). */
  function fit() {
    if (!desktop) return;
    const w = host.clientWidth;
    const hgt = host.clientHeight;
    if (w === 0 || hgt === 0) return;
    const scale = Math.min(1, w / desktop.width, hgt / desktop.height);
    canvas.style.width = `${Math.floor(desktop.width * scale)}px`;
    canvas.style.height = `${Math.floor(desktop.height * scale)}px`;
  }

  /** Asks the server for a desktop the size of the window, when it can follow (`desktop.resizable`). */
  function scheduleResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const s = session;
      if (!s || finished || !desktop?.resizable) return;
      const clamp = (v: number) => Math.max(MIN_DESKTOP, Math.min(MAX_DESKTOP, Math.floor(v)));
      const width = clamp(host.clientWidth);
      const height = clamp(host.clientHeight);
      const key = `${width}x${height}`;
      if (key === lastAsked || (width === desktop.width && height === desktop.height)) return;
      lastAsked = key;
      void s.resize(width, height).catch(() => undefined);
    }, RESIZE_DEBOUNCE_MS);
  }

  function onDesktop(d: DesktopInfo) {
    const resized = !desktop || desktop.width !== d.width || desktop.height !== d.height;
    const first = !desktop;
    desktop = d;
    if (resized) {
      void renderer?.then((r) => r.resize(d.width, d.height));
      fit();
      // A resized canvas is blank: ask for every tile (the first frame of an attachment has them all anyway).
      if (!first) void session?.refresh().catch(() => undefined);
    }
    profile.value = d.profile;
    colour.value = d.color_mode;
    profile.classList.toggle("hidden", !d.adjustable);
    colour.classList.toggle("hidden", !d.adjustable);
    if (first) scheduleResize();
  }

  let lastCounters = { at: 0, frames: 0, bytes: 0 };
  function updateStats() {
    const s = session;
    if (!s) return;
    const c = s.counters();
    const now = performance.now();
    const dt = (now - lastCounters.at) / 1000;
    const fps = dt > 0 ? (c.frames - lastCounters.frames) / dt : 0;
    const bps = dt > 0 ? (c.renderBytes - lastCounters.bytes) / dt : 0;
    lastCounters = { at: now, frames: c.frames, bytes: c.renderBytes };
    const ping = s.rtt();
    const parts = [
      `${fps.toFixed(0)} fps`,
      `${formatBytes(bps)}/s`,
      `RTT ${ping === undefined ? "—" : `${Math.round(ping)} ms`}`,
      `frame ack ${adapterStats ? `${Math.round(adapterStats.rtt_ms)} ms` : "—"}`,
      `draw ${c.lastFrameMs === null ? "—" : `${Math.round(c.lastFrameMs)} ms`}`,
      transportLabel(s.transport),
    ];
    if (adapterStats?.profile)
      parts.push(`${PROFILE_LABELS[adapterStats.profile] ?? adapterStats.profile}, ${COLOR_LABELS[adapterStats.color_mode] ?? adapterStats.color_mode}`);
    stats.textContent = parts.join(" · ");
    stats.dataset.fps = fps.toFixed(1);
  }

  function onAdapterNotice(n: RdpNotice) {
    show("bad", h("span", { "data-testid": "adapter-notice", "data-code": n.code }, `${n.fallback_message} (${n.code})`));
  }

  function stop(text: string) {
    finished = true;
    state.textContent = text;
    input?.disable();
    for (const b of [detach, cad, clipboardButton, uploadButton, downloadsButton]) b.disabled = true;
    profile.disabled = true;
    colour.disabled = true;
    clearInterval(statsTimer);
  }

  function onEnd(n: Notice) {
    if (finished) return;
    if (n.type === "session.taken_over") {
      stop("Taken over");
      show("bad", h("strong", {}, "This session was taken over on another device."), " Input is disabled here. ", sessionsLink());
    } else if (n.type === "session.ended") {
      stop("Ended");
      show("info", h("strong", {}, "The session has ended"), n.reason ? ` (${n.reason}).` : ".", " ", sessionsLink());
    } else if (n.type === "error") {
      stop("Disconnected");
      show("bad", h("strong", {}, n.error.fallback_message), ` (${n.error.code}) `, reattachButton());
    } else {
      stop("Disconnected");
      show("info", "The connection closed. ", reattachButton());
    }
  }

  const el = h(
    "div",
    { class: "terminal-page desktop-page", "data-testid": "desktop-page" },
    sessionStatusBar(
      o.resourceName,
      entry,
      via,
      state,
      h("span", { class: "spacer" }),
      cad,
      profile,
      colour,
      clipboardButton,
      uploadButton,
      fileInput,
      downloadsButton,
      detach,
      o.actions,
    ),
    notice,
    panel,
    host,
  );

  return {
    el,
    mounted() {
      observer.observe(host);
    },
    setEntry(name) {
      entry.textContent = name;
    },
    setState(text) {
      state.textContent = text;
    },
    setTransport(text) {
      via.textContent = text;
    },
    show,
    stop,
    attach(s) {
      session = s;
      via.textContent = transportLabel(s.transport);
      state.textContent = "Connected";
      renderer = createRenderer(canvas, { workerUrl: o.workerUrl });
      const r = renderer;
      for (const b of [detach, cad]) b.disabled = false;
      if (s.hasClipboard) clipboardButton.classList.remove("hidden");
      if (s.hasFileTransfer && allowsToServer(s.policy.file_transfer)) uploadButton.classList.remove("hidden");
      if (s.hasFileTransfer && allowsToClient(s.policy.file_transfer)) downloadsButton.classList.remove("hidden");
      for (const b of [clipboardButton, uploadButton, downloadsButton]) b.disabled = false;
      unsubscribe.push(
        s.on("desktop", onDesktop),
        s.on("tiles", ({ message, bytes }) => {
          void r
            .then((rr) => rr.draw(bytes, message))
            .then((result) => {
              if (result.error || result.failed) show("bad", `A screen update could not be drawn: ${result.error ?? `${result.failed} tiles did not decode`}`);
              // Acknowledged even when drawing failed: the adapter's window must not stall; the next frame repairs the area.
              if (message.last && !finished) void s.ack(message.frameSeq);
            });
        }),
        s.on("stats", (st) => (adapterStats = st)),
        s.on("notice", onAdapterNotice),
        s.on("clipboard", (m) => {
          fromServer.textContent = m.text;
        }),
        s.on("end", onEnd),
      );
      input = captureInput({ canvas, sink, send: (events) => void s.sendInput(events).catch(() => undefined), desktop: () => desktop });
      lastCounters = { at: performance.now(), frames: 0, bytes: 0 };
      statsTimer = setInterval(updateStats, STATS_EVERY_MS);
      input.focus();
    },
    dispose() {
      finished = true;
      clearInterval(statsTimer);
      clearTimeout(resizeTimer);
      observer.disconnect();
      for (const u of unsubscribe) u();
      input?.dispose();
      void renderer?.then((r) => r.dispose());
      session?.close();
    },
    renderMode: async () => (renderer ? (await renderer).mode : "none"),
    pixels: async () => (renderer ? (await renderer).read() : null),
  };
}
