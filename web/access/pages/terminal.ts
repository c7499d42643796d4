/**
 * The terminal page (#/terminal/<session id>): the whole window is the
 * session's terminal, under a status line naming the resource, the entry
 * point (by name: its URL is used to connect and never shown), the transport
 * (WebTransport or the WebSocket fallback) and the round-trip time.
 *
 * It gets an attach offer (the one the previous page obtained, or a fresh
 * reattach, with the takeover prompt when another device holds the session),
 * connects through the `Connect` it is given, and wires keystrokes, output
 * and resizes. `session.taken_over` and `session.ended` stop input and say so.
 * Detach asks the entry to detach; leaving the page or closing the tab drops
 * the connection, which the entry reports, so the session is detached and
 * kept for its resource's detached timeout either way.
 */
import { api } from "../../lib/api.ts";
import { confirm } from "../../lib/dialog.ts";
import { h, mount } from "../../lib/dom.ts";
import { errorView } from "../../lib/errors.ts";
import type { PageView } from "../../lib/router.ts";
import { LIVE_STATES, type AttachOffer, type RemoteSession } from "../model.ts";
import { attachOffer, takePendingOffer } from "../open-session.ts";
import type { Connect, TerminalNotice, TerminalTransport } from "../terminal-transport.ts";
import { requestedLabel, transportChoice, transportLabel } from "../transport-choice.ts";
import { terminalView, type TerminalView } from "../terminal-view.ts";

const RTT_EVERY_MS = 1000;

/** Client errors may quote the URL they tried; the page names the entry point instead. */
function scrub(message: string, offer: AttachOffer): string {
  let out = message;
  for (const url of offer.entry.urls) {
    out = out.split(url).join(offer.entry.name);
    const host = URL.canParse(url) ? new URL(url).host : "";
    if (host) out = out.split(host).join(offer.entry.name);
  }
  return out;
}

export function terminalPage(connect: Connect) {
  return async (params: Record<string, string>): Promise<PageView> => {
    const id = params.id ?? "";
    const session = await api.get<RemoteSession>(`/remote-sessions/${id}`);
    const cell = (testid: string, text = "") => h("span", { "data-testid": testid }, text);
    const state = cell("terminal-state", "Connecting…");
    const entry = cell("terminal-entry", session.entry?.name ?? "—");
    const via = cell("terminal-transport", "—");
    const rtt = cell("terminal-rtt", "—");
    const notice = h("div", { class: "terminal-notice hidden", role: "status", "data-testid": "terminal-notice" });
    const view: TerminalView = terminalView();
    let transport: TerminalTransport | null = null;
    let disposed = false;
    let finished = false;
    let rttTimer: ReturnType<typeof setInterval> | undefined;

    const show = (tone: "info" | "bad", ...children: (Node | string)[]) => {
      notice.className = `terminal-notice ${tone}`;
      mount(notice, ...children);
    };
    const stop = (stateText: string) => {
      finished = true;
      state.textContent = stateText;
      view.disableInput();
      detachButton.disabled = true;
      clearInterval(rttTimer);
    };
    const closeTransport = () => transport?.close();

    const detachButton = h(
      "button",
      {
        type: "button",
        "data-testid": "detach",
        disabled: true,
        onclick: async () => {
          const t = transport;
          if (!t) return;
          detachButton.disabled = true;
          await t.detach().catch(() => t.close());
          stop("Detached");
          location.hash = "#/sessions";
        },
      },
      "Detach",
    );
    const endButton = h(
      "button",
      {
        type: "button",
        "data-testid": "end-session",
        onclick: async () => {
          const yes = await confirm({
            title: "End this session?",
            text: `The shell on ${session.resource_name} is closed and cannot be reattached.`,
            name: "end",
            yes: "End session",
          });
          if (!yes) return;
          try {
            await api.post(`/remote-sessions/${id}/terminate`);
            closeTransport();
            stop("Ended");
            location.hash = "#/sessions";
          } catch (err) {
            show("bad", errorView(err));
          }
        },
      },
      "End session",
    );

    const onNotice = (n: TerminalNotice) => {
      if (n.type === "session.taken_over") {
        stop("Taken over");
        show(
          "bad",
          h("strong", {}, "This session was taken over on another device."),
          " Input is disabled here. ",
          h("a", { href: "#/sessions" }, "My sessions"),
        );
      } else if (n.type === "session.ended") {
        stop("Ended");
        show("info", h("strong", {}, "The session has ended"), n.reason ? ` (${n.reason}).` : ".", " ", h("a", { href: "#/sessions" }, "My sessions"));
      } else if (n.error) {
        show("bad", h("strong", {}, n.error.code), " ", n.error.fallback_message);
      }
    };

    const connectFailed = (offer: AttachOffer, err: unknown) => {
      stop("Not connected");
      const message = scrub(err instanceof Error ? err.message : String(err), offer);
      show(
        "bad",
        h(
          "div",
          { "data-testid": "connect-error" },
          h("strong", {}, `Could not connect through ${offer.entry.name}.`),
          " ",
          h("span", { "data-testid": "connect-error-message" }, message),
        ),
        h(
          "p",
          {},
          "The session is kept for a while: ",
          h("button", { type: "button", "data-testid": "retry", onclick: () => location.reload() }, "Try again"),
          " or open it later from ",
          h("a", { href: "#/sessions" }, "My sessions"),
          ".",
        ),
      );
      // Nothing reached the entry, so nothing will report this attachment closed: detach it here so the
      // session is kept for its detached timeout instead of looking attached to a client that is gone.
      void api.post(`/remote-sessions/${id}/detach`).catch(() => undefined);
    };

    const run = async () => {
      if (!LIVE_STATES.includes(session.state)) {
        stop(session.state === "failed" ? "Failed" : "Ended");
        show(
          "info",
          `This session is ${session.state}${(session.failure_reason ?? session.end_reason) ? ` (${session.failure_reason ?? session.end_reason})` : ""}. `,
          h("a", { href: "#/resources" }, "Connect again"),
        );
        return;
      }
      let offer: AttachOffer | null | undefined = takePendingOffer(id);
      try {
        offer ??= await attachOffer(id);
      } catch (err) {
        stop("Not connected");
        show("bad", errorView(err));
        return;
      }
      if (disposed) return;
      if (!offer) {
        stop("Not connected");
        show("info", "The session stays on the other device. ", h("a", { href: "#/sessions" }, "My sessions"));
        return;
      }
      entry.textContent = offer.entry.name;
      state.textContent = `Connecting to ${offer.entry.name}…`;
      const choice = transportChoice();
      via.textContent = requestedLabel(choice);
      let t: TerminalTransport;
      try {
        t = await connect({
          urls: offer.entry.urls,
          certificateHashes: offer.entry.certificate_hashes,
          sessionId: id,
          token: offer.token,
          transport: choice,
        });
      } catch (err) {
        if (!disposed) connectFailed(offer, err);
        return;
      }
      if (disposed) return t.close();
      transport = t;
      via.textContent = transportLabel(t.transport);
      state.textContent = "Connected";
      detachButton.disabled = false;
      t.onOutput((bytes) => view.write(bytes));
      t.onNotice(onNotice);
      t.onClose(() => {
        if (finished) return;
        stop("Disconnected");
        show("info", "The connection closed. ", h("button", { type: "button", "data-testid": "reconnect", onclick: () => location.reload() }, "Reattach"));
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
    };

    const el = h(
      "div",
      { class: "terminal-page", "data-testid": "terminal-page" },
      h(
        "div",
        { class: "terminal-status", "data-testid": "terminal-status" },
        h("a", { href: "#/sessions", class: "back", "data-testid": "back-to-sessions" }, "← My sessions"),
        h("strong", { "data-testid": "terminal-resource" }, session.resource_name),
        h("span", { class: "muted" }, "Entry point "),
        entry,
        h("span", { class: "muted" }, "Transport "),
        via,
        h("span", { class: "muted" }, "RTT "),
        rtt,
        state,
        h("span", { class: "spacer" }),
        detachButton,
        endButton,
      ),
      notice,
      view.el,
    );
    return {
      el,
      mounted: () => {
        view.open();
        addEventListener("pagehide", closeTransport);
        void run();
      },
      dispose: () => {
        disposed = true;
        finished = true;
        clearInterval(rttTimer);
        removeEventListener("pagehide", closeTransport);
        closeTransport();
        view.dispose();
      },
    };
  };
}
