/**
 * The terminal screen: a status line (resource, entry point by name,
 * transport, round-trip time, state, Detach and the page's own actions), a
 * notice area, and the terminal view, wired to one `TerminalTransport`.
 * Keystrokes go out, output comes in, resizes are sent; `session.taken_over`
 * and `session.ended` stop input for good and say so; a closed connection
 * offers to reattach. It does no API call and knows no URL: the terminal
 * page obtains the offer and the transport and hands the transport here.
 */
import { h, mount, type Child } from "../lib/dom.ts";
import type { TerminalNotice, TerminalTransport } from "./terminal-transport.ts";
import { sessionStatusBar } from "./session-status.ts";
import { transportLabel } from "./transport-choice.ts";
import { terminalView } from "./terminal-view.ts";

const RTT_EVERY_MS = 1000;

export type Tone = "info" | "bad";

export interface TerminalScreen {
  el: HTMLElement;
  /** Opens the terminal; call once `el` is in the document. */
  mounted(): void;
  setEntry(name: string): void;
  setState(text: string): void;
  setTransport(text: string): void;
  show(tone: Tone, ...children: Child[]): void;
  /** Wires the connection: from here on input, output, resizes, notices and RTT flow. */
  attach(t: TerminalTransport): void;
  /** Ends interaction for good (taken over, ended, not connected). */
  stop(state: string): void;
  dispose(): void;
}

export function terminalScreen(o: {
  resourceName: string;
  entryName: string;
  /** Buttons of the page (End session), after Detach. */
  actions: HTMLElement[];
  /** After Detach has told the entry: where the page goes next. */
  onDetached: () => void;
  /** "Reattach" after the connection closed on its own. */
  onReattach: () => void;
}): TerminalScreen {
  const cell = (testid: string, text: string) => h("span", { "data-testid": testid }, text);
  const state = cell("terminal-state", "Connecting…");
  const entry = cell("terminal-entry", o.entryName);
  const via = cell("terminal-transport", "—");
  const rtt = cell("terminal-rtt", "—");
  const notice = h("div", { class: "terminal-notice hidden", role: "status", "data-testid": "terminal-notice" });
  const view = terminalView();
  let transport: TerminalTransport | null = null;
  let finished = false;
  let rttTimer: ReturnType<typeof setInterval> | undefined;

  const show = (tone: Tone, ...children: Child[]) => {
    notice.className = `terminal-notice ${tone}`;
    mount(notice, ...children);
  };
  const stop = (text: string) => {
    finished = true;
    state.textContent = text;
    view.disableInput();
    detach.disabled = true;
    clearInterval(rttTimer);
  };
  const sessionsLink = () => h("a", { href: "#/sessions" }, "My sessions");
  const reattachButton = () => h("button", { type: "button", "data-testid": "reconnect", onclick: o.onReattach }, "Reattach");
  const onNotice = (n: TerminalNotice) => {
    if (n.type === "session.taken_over") {
      stop("Taken over");
      show("bad", h("strong", {}, "This session was taken over on another device."), " Input is disabled here. ", sessionsLink());
    } else if (n.type === "session.ended") {
      stop("Ended");
      show("info", h("strong", {}, "The session has ended"), n.reason ? ` (${n.reason}).` : ".", " ", sessionsLink());
    } else if (n.error) {
      // The entry closes the transport after an error event: say why, and offer to reattach.
      stop("Disconnected");
      show("bad", h("strong", {}, n.error.fallback_message), ` (${n.error.code}) `, reattachButton());
    }
  };

  const detach = h(
    "button",
    {
      type: "button",
      "data-testid": "detach",
      disabled: true,
      onclick: async () => {
        const t = transport;
        if (!t) return;
        detach.disabled = true;
        await t.detach().catch(() => t.close());
        stop("Detached");
        o.onDetached();
      },
    },
    "Detach",
  );

  const el = h(
    "div",
    { class: "terminal-page", "data-testid": "terminal-page" },
    sessionStatusBar(o.resourceName, entry, via, h("span", { class: "muted" }, "RTT "), rtt, state, h("span", { class: "spacer" }), detach, o.actions),
    notice,
    view.el,
  );

  return {
    el,
    mounted: () => view.open(),
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
    attach(t) {
      transport = t;
      via.textContent = transportLabel(t.transport);
      state.textContent = "Connected";
      detach.disabled = false;
      t.onOutput((bytes) => view.write(bytes));
      t.onNotice(onNotice);
      t.onClose(() => {
        if (finished) return;
        stop("Disconnected");
        show("info", "The connection closed. ", reattachButton());
      });
      view.onInput((bytes) => !finished && t.send(bytes));
      view.onResize((cols, rows) => !finished && t.resize(cols, rows));
      const { cols, rows } = view.size();
      t.resize(cols, rows);
      rttTimer = setInterval(() => {
        const ms = t.rtt();
        rtt.textContent = ms === null ? "—" : `${Math.round(ms)} ms`;
      }, RTT_EVERY_MS);
      view.focus();
    },
    dispose() {
      finished = true;
      clearInterval(rttTimer);
      transport?.close();
      view.dispose();
    },
  };
}
