/**
 * The seam between the access portal and the data-plane client library
 * (WebTransport to the entry node, or the WebSocket fallback speaking the same
 * streams; docs/protocol.md). The portal is written against these types only:
 * it gets a `Connect` from connect.ts, the one file that names the
 * implementation, and never touches frames, streams or URLs beyond handing
 * the attach offer's `entry.urls` and `certificate_hashes` through.
 *
 * A transport is one attachment's connection: keystrokes go out with `send`,
 * terminal output comes back through `onOutput`; `detach()` asks the entry to
 * detach (the session keeps running for its detached timeout), `close()` just
 * drops the connection (the entry reports it, which detaches as well).
 */
import type { DesktopSession } from "./desktop/session.ts";

/** The spec's error event (core/error-event.ts), as entry nodes send it. */
export interface ErrorEvent {
  code: string;
  message_key: string;
  fallback_message: string;
  details: Record<string, unknown>;
  trace_id: string;
}

/** What the entry tells the client about the session, besides output. */
export interface TerminalNotice {
  type: "session.taken_over" | "session.ended" | "error";
  error?: ErrorEvent;
  reason?: string;
}

export interface TerminalTransport {
  /** Which transport carried the connection: WebTransport, or the WebSocket fallback. */
  readonly transport: "webtransport" | "websocket";
  /** Keystrokes (terminal input). */
  send(bytes: Uint8Array): void;
  resize(cols: number, rows: number): void;
  onOutput(cb: (bytes: Uint8Array) => void): void;
  onNotice(cb: (n: TerminalNotice) => void): void;
  onClose(cb: () => void): void;
  /** The latest round-trip time to the entry in milliseconds, or null before the first pong. */
  rtt(): number | null;
  detach(): Promise<void>;
  close(): void;
}

export type TransportChoice = "auto" | "webtransport" | "websocket";

export interface ConnectTo {
  urls: string[];
  certificateHashes: string[];
  sessionId: string;
  token: string;
  transport: TransportChoice;
}

export type Connect = (o: ConnectTo) => Promise<TerminalTransport>;

/** An RDP session's desktop attachment (web/access/client/rdp-session.ts). */
export type ConnectDesktop = (o: ConnectTo) => Promise<DesktopSession>;
