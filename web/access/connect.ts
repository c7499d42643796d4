/**
 * The one place the portal gets its data-plane client from: the access client
 * library (web/access/client/, WebTransport with the WebSocket fallback),
 * adapted to the terminal's `TerminalTransport`, and its RDP attachment for
 * desktops.
 */
import { connect as connectEntry } from "./client/connect.ts";
import { connectRdp } from "./client/rdp-session.ts";
import type { Connect, ConnectDesktop } from "./terminal-transport.ts";

/** An RDP session's desktop: the RDP attachment of the same client library (frames acknowledged by the viewer once drawn). */
export const connectDesktop: ConnectDesktop = (o) =>
  connectRdp({ urls: o.urls, certificateHashes: o.certificateHashes, sessionId: o.sessionId, token: o.token, transport: o.transport });

export const connect: Connect = async (o) => {
  const s = await connectEntry({ urls: o.urls, certificateHashes: o.certificateHashes, sessionId: o.sessionId, token: o.token, transport: o.transport });
  return {
    transport: s.transport,
    // A send on a closing transport fails; the close itself is what the page reports.
    send: (bytes) => void s.send(bytes).catch(() => undefined),
    resize: (cols, rows) => void s.resize(cols, rows).catch(() => undefined),
    onOutput: (cb) => void s.onOutput(cb),
    onNotice: (cb) =>
      void s.onNotice((n) => {
        if (n.type !== "closed") cb(n);
      }),
    onClose: (cb) => void s.closed.then(cb),
    rtt: () => s.rtt() ?? null,
    detach: () => s.detach(),
    close: () => s.close(),
  };
};
