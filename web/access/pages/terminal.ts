/**
 * The session page (#/terminal/<session id>): the whole window is the
 * session's terminal (terminal-screen.ts), or for an RDP session its desktop
 * (desktop/screen.ts), under a status line naming the
 * resource, the entry point (by name: its URL is used to connect and never
 * shown), the transport (WebTransport or the WebSocket fallback) and the
 * round-trip time.
 *
 * It gets an attach offer (the one the previous page obtained, or a fresh
 * reattach, with the takeover prompt when another device holds the session)
 * and connects through the `Connect` it is given. Detach asks the entry to
 * detach; leaving the page or closing the tab drops the connection, which
 * the entry reports, so the session is detached and kept for its resource's
 * detached timeout either way.
 */
import { api } from "../../lib/api.ts";
import { confirm } from "../../lib/dialog.ts";
import { h } from "../../lib/dom.ts";
import { errorView } from "../../lib/errors.ts";
import type { PageView } from "../../lib/router.ts";
import { LIVE_STATES, type AttachOffer, type RemoteSession } from "../model.ts";
import { attachOffer, takePendingOffer } from "../open-session.ts";
import type { Connect, ConnectDesktop, ConnectTo } from "../terminal-transport.ts";
import { requestedLabel, transportChoice } from "../transport-choice.ts";
import { terminalScreen } from "../terminal-screen.ts";
import { connectErrorMessage } from "../connect-error.ts";
import { desktopScreen } from "../desktop/screen.ts";

/**
 * The desktop viewer's drawing worker, bundled on its own and served beside
 * the portal's bundle; when it cannot be loaded the viewer draws on the main thread.
 */
export const RDP_WORKER_URL = "/access/assets/rdp-worker.js";

export function terminalPage(connect: Connect, connectDesktop?: ConnectDesktop) {
  return async (params: Record<string, string>): Promise<PageView> => {
    const id = params.id ?? "";
    const session = await api.get<RemoteSession>(`/remote-sessions/${id}`);
    let disposed = false;
    let transport: { close(): void } | null = null;
    const sessionsLink = () => h("a", { href: "#/sessions" }, "My sessions");

    const end = h(
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
            screen.stop("Ended");
            location.hash = "#/sessions";
          } catch (err) {
            screen.show("bad", errorView(err));
          }
        },
      },
      "End session",
    );
    const common = {
      resourceName: session.resource_name,
      entryName: session.entry?.name ?? "—",
      actions: [end],
      onDetached: () => (location.hash = "#/sessions"),
      onReattach: () => location.reload(),
    };
    // Connects and hands the connection to its screen: a desktop for RDP, else a terminal.
    let open: (c: ConnectTo) => Promise<{ close(): void; attach(): void }>;
    let screen: ReturnType<typeof terminalScreen> | ReturnType<typeof desktopScreen>;
    if (session.protocol === "rdp" && connectDesktop) {
      const desktop = desktopScreen({ ...common, workerUrl: RDP_WORKER_URL });
      screen = desktop;
      open = async (c) => {
        const d = await connectDesktop(c);
        return { close: () => d.close(), attach: () => desktop.attach(d) };
      };
    } else {
      const terminal = terminalScreen(common);
      screen = terminal;
      open = async (c) => {
        const t = await connect(c);
        return { close: () => t.close(), attach: () => terminal.attach(t) };
      };
    }

    const connectFailed = (offer: AttachOffer, err: unknown) => {
      screen.stop("Not connected");
      const message = connectErrorMessage(err, offer.entry);
      screen.show(
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
          sessionsLink(),
          ".",
        ),
      );
      // Nothing reached the entry, so nothing will report this attachment closed: detach it here so the
      // session is kept for its detached timeout instead of looking attached to a client that is gone.
      void api.post(`/remote-sessions/${id}/detach`).catch(() => undefined);
    };

    const run = async () => {
      if (!LIVE_STATES.includes(session.state)) {
        screen.stop(session.state === "failed" ? "Failed" : "Ended");
        const why = session.failure_reason ?? session.end_reason;
        const cause = session.failure_message ? ` ${session.failure_message} (${session.failure_code})` : "";
        screen.show("info", `This session is ${session.state}${why ? ` (${why})` : ""}.${cause} `, h("a", { href: "#/resources" }, "Connect again"));
        return;
      }
      let offer: AttachOffer | null | undefined = takePendingOffer(id);
      try {
        offer ??= await attachOffer(id);
      } catch (err) {
        screen.stop("Not connected");
        screen.show("bad", errorView(err));
        return;
      }
      if (disposed) return;
      if (!offer) {
        screen.stop("Not connected");
        screen.show("info", "The session stays on the other device. ", sessionsLink());
        return;
      }
      screen.setEntry(offer.entry.name);
      screen.setState(`Connecting to ${offer.entry.name}…`);
      const choice = transportChoice();
      screen.setTransport(requestedLabel(choice));
      if (offer.entry.urls.length === 0) {
        connectFailed(offer, new Error("The entry point has not published where to connect yet; try again in a moment."));
        return;
      }
      let t: { close(): void; attach(): void };
      try {
        t = await open({ urls: offer.entry.urls, certificateHashes: offer.entry.certificate_hashes, sessionId: id, token: offer.token, transport: choice });
      } catch (err) {
        if (!disposed) connectFailed(offer, err);
        return;
      }
      if (disposed) return t.close();
      transport = t;
      t.attach();
    };

    const closeTransport = () => transport?.close();
    return {
      el: screen.el,
      mounted: () => {
        screen.mounted();
        addEventListener("pagehide", closeTransport);
        void run();
      },
      dispose: () => {
        disposed = true;
        removeEventListener("pagehide", closeTransport);
        screen.dispose();
      },
    };
  };
}
