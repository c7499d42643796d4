/**
 * The access client's connection to an entry node (protocol rap.session.v1,
 * docs/protocol.md): the browser's WebTransport when it has one, else the
 * `@moq/web-transport-ws` polyfill, which offers the same API over a
 * WebSocket (and is all there is under Bun). One code path serves both: a
 * control stream for hello/welcome, pings and notices, an input stream for
 * keystrokes and resizes, a render stream for terminal output. Other
 * attachments (the RDP desktop, rdp-session.ts) open their channel streams
 * themselves with `openChannel` and speak their own messages on them.
 *
 * Runs in the access portal's bundle and under Bun; imports only types from core/.
 */
import WebTransportWs from "@moq/web-transport-ws";
import type { ErrorEvent } from "../../../core/contracts/data-plane-token.ts";
import { encodeData, encodeJson, type Frame, FrameDecoder, type JsonMessage, MAX_DATA_LEN, STREAM_KIND, type StreamKindName } from "./frame.ts";

export type TransportChoice = "auto" | "webtransport" | "websocket";
export type TransportName = "webtransport" | "websocket";

export interface ConnectOptions {
  /** The entry's URLs to try in order (`https://host:port/rap/v1`). */
  urls: string[];
  /** Hex SHA-256 of the entry's certificate, for a self-signed one (WebTransport only). */
  certificateHashes?: string[];
  sessionId: string;
  /** The data-plane token of the attach offer. */
  token: string;
  transport?: TransportChoice;
  /** For each attempt: transport ready and welcome. Default 10 s. */
  timeoutMs?: number;
  /** Between pings measuring the round trip. Default 5 s. */
  pingIntervalMs?: number;
  /**
   * Open the terminal's input and render streams after welcome (default true).
   * false leaves every channel to `openChannel` (the RDP attachment does that).
   */
  terminalChannels?: boolean;
}

/** One channel stream of the attachment (after its kind byte): frames out, frames in. */
export interface ChannelStream {
  readonly name: StreamKindName;
  sendJson(message: JsonMessage): Promise<void>;
  sendData(payload: Uint8Array): Promise<void>;
  /** Frames from the entry; frames that came before the first listener are handed to it. */
  onFrame(listener: (frame: Frame) => void): () => void;
  /** The stream ended: `error` is set when the entry sent a frame this client could not decode. */
  readonly ended: Promise<{ error?: Error }>;
}

/** What the entry tells a connected client; after any of these the transport is closed. */
export type Notice =
  | { type: "session.taken_over"; error: ErrorEvent }
  | { type: "session.ended"; reason: string }
  | { type: "error"; error: ErrorEvent }
  | { type: "closed"; reason: string };

export interface AccessSession {
  readonly transport: TransportName;
  readonly sessionId: string;
  readonly attachmentId: string;
  readonly channels: readonly string[];
  /** Keystrokes (text is sent as UTF-8). */
  send(keys: string | Uint8Array): Promise<void>;
  resize(cols: number, rows: number): Promise<void>;
  /** Terminal output; output that came before the first listener is handed to it. */
  onOutput(listener: (bytes: Uint8Array) => void): () => void;
  onNotice(listener: (notice: Notice) => void): () => void;
  /** Opens a channel stream that `channels` lists (see `ConnectOptions.terminalChannels`). */
  openChannel(name: Exclude<StreamKindName, "control">): Promise<ChannelStream>;
  /** The last measured round trip to the entry, in milliseconds. */
  rtt(): number | undefined;
  /** Tells the entry this client leaves (the session stays for reattach), then closes. */
  detach(): Promise<void>;
  close(): void;
  /** Settles when the transport is closed, by either side. */
  readonly closed: Promise<void>;
}

/** The entry refused the hello: the spec's error event (e.g. `data_plane.token_invalid`). */
export class EntryRefused extends Error {
  constructor(readonly error: ErrorEvent) {
    super(`${error.code}: ${error.fallback_message}`);
    this.name = "EntryRefused";
  }
}

/** No URL could be reached with any allowed transport. */
export class EntryUnreachable extends Error {
  constructor(readonly attempts: string[]) {
    super(`no entry could be reached: ${attempts.join("; ")}`);
    this.name = "EntryUnreachable";
  }
}

interface Stream {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const clean = hex.replace(/[^0-9a-f]/gi, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function nativeWebTransport(): typeof WebTransport | undefined {
  const wt = (globalThis as { WebTransport?: typeof WebTransport }).WebTransport;
  // The polyfill may have been installed globally; only a real one counts as native.
  return typeof wt === "function" && wt !== (WebTransportWs as unknown) ? wt : undefined;
}

function open(kind: TransportName, url: string, options: ConnectOptions): WebTransport {
  if (kind === "websocket") return new WebTransportWs(url) as unknown as WebTransport;
  const Native = nativeWebTransport();
  if (!Native) throw new Error("this runtime has no WebTransport");
  const hashes = (options.certificateHashes ?? []).map((h) => ({ algorithm: "sha-256", value: hexBytes(h) }));
  return new Native(url, hashes.length ? { serverCertificateHashes: hashes } : {});
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function openStream(wt: WebTransport, kind: StreamKindName): Promise<Stream> {
  const bidi = await wt.createBidirectionalStream();
  const stream = { writer: bidi.writable.getWriter(), reader: bidi.readable.getReader() };
  await stream.writer.write(new Uint8Array([STREAM_KIND[kind]]));
  return stream;
}

/** Reads a stream's frames, handing each to `onFrame`, until it ends. */
async function pump(reader: ReadableStreamDefaultReader<Uint8Array>, decoder: FrameDecoder, onFrame: (f: ReturnType<FrameDecoder["next"]> & {}) => void) {
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    decoder.push(value instanceof Uint8Array ? value : new Uint8Array(value));
    for (let f = decoder.next(); f; f = decoder.next()) onFrame(f);
  }
}

/** Connects to the first reachable entry URL and says hello; resolves once welcomed. */
export async function connect(options: ConnectOptions): Promise<AccessSession> {
  const choice = options.transport ?? "auto";
  const kinds: TransportName[] = choice === "auto" ? (nativeWebTransport() ? ["webtransport", "websocket"] : ["websocket"]) : [choice];
  const attempts: string[] = [];
  for (const kind of kinds) {
    for (const url of options.urls) {
      try {
        return await attempt(kind, url, options);
      } catch (err) {
        // A refusal is the entry's answer to this token: another URL would only spend it again.
        if (err instanceof EntryRefused) throw err;
        attempts.push(`${kind} ${url}: ${(err as Error).message}`);
      }
    }
  }
  throw new EntryUnreachable(attempts);
}

async function attempt(kind: TransportName, url: string, options: ConnectOptions): Promise<AccessSession> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const wt = open(kind, url, options);
  wt.closed.catch(() => undefined);
  try {
    await withTimeout(wt.ready, timeoutMs, "the transport handshake");
    const control = await openStream(wt, "control");
    await control.writer.write(encodeJson({ type: "hello", version: 1, session_id: options.sessionId, token: options.token }));
    const decoder = new FrameDecoder();
    const first = await withTimeout(firstMessage(control.reader, decoder), timeoutMs, "the entry's welcome");
    if (first.type === "error") throw new EntryRefused(first.error as ErrorEvent);
    if (first.type !== "welcome") throw new Error(`the entry answered hello with ${first.type}`);
    return await Connected.start(wt, kind, control, decoder, first, options);
  } catch (err) {
    try {
      wt.close();
    } catch {
      // already closed
    }
    throw err;
  }
}

async function firstMessage(reader: ReadableStreamDefaultReader<Uint8Array>, decoder: FrameDecoder): Promise<JsonMessage> {
  for (;;) {
    const f = decoder.next();
    if (f) {
      if (f.kind !== "json") throw new Error("the entry sent DATA on the control stream");
      return f.message;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error("the entry closed the control stream before welcome");
    decoder.push(value);
  }
}

class Connected implements AccessSession {
  readonly sessionId: string;
  readonly attachmentId: string;
  readonly channels: readonly string[];
  readonly closed: Promise<void>;
  #input?: Stream;
  #outputListeners = new Set<(bytes: Uint8Array) => void>();
  #pendingOutput: Uint8Array[] = [];
  #noticeListeners = new Set<(notice: Notice) => void>();
  #rtt: number | undefined;
  #pings = new Map<number, number>();
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ended = false;

  private constructor(
    private readonly wt: WebTransport,
    readonly transport: TransportName,
    private readonly control: Stream,
    welcome: JsonMessage,
  ) {
    this.sessionId = String(welcome.session_id);
    this.attachmentId = String(welcome.attachment_id);
    this.channels = Array.isArray(welcome.channels) ? welcome.channels.map(String) : [];
    this.closed = wt.closed.then(
      () => this.#end({ type: "closed", reason: "closed" }),
      (err: unknown) => this.#end({ type: "closed", reason: (err as Error)?.message ?? "closed" }),
    );
  }

  static async start(wt: WebTransport, kind: TransportName, control: Stream, decoder: FrameDecoder, welcome: JsonMessage, options: ConnectOptions) {
    const s = new Connected(wt, kind, control, welcome);
    void pump(control.reader, decoder, (f) => f.kind === "json" && s.#onControl(f.message)).catch(() => undefined);
    const terminal = options.terminalChannels ?? true;
    if (terminal && s.channels.includes("input")) s.#input = await openStream(wt, "input");
    if (terminal && s.channels.includes("render")) {
      const render = await openStream(wt, "render");
      void pump(render.reader, new FrameDecoder(), (f) => f.kind === "data" && s.#onOutput(f.payload)).catch(() => undefined);
    }
    s.#ping();
    s.#timer = setInterval(() => s.#ping(), options.pingIntervalMs ?? 5_000);
    return s;
  }

  #onControl(message: JsonMessage) {
    switch (message.type) {
      case "pong": {
        const sent = this.#pings.get(Number(message.seq));
        if (sent !== undefined) this.#rtt = performance.now() - sent;
        this.#pings.delete(Number(message.seq));
        return;
      }
      case "ping":
        void this.#write(this.control, encodeJson({ type: "pong", seq: message.seq }));
        return;
      case "session.taken_over":
      case "error":
        this.#end({ type: message.type, error: message.error as ErrorEvent });
        this.close();
        return;
      case "session.ended":
        this.#end({ type: "session.ended", reason: String(message.reason ?? "") });
        this.close();
        return;
      default:
        // A newer entry may send messages this client does not know: ignored (docs/protocol.md, versioning).
        return;
    }
  }

  #onOutput(bytes: Uint8Array) {
    if (this.#outputListeners.size === 0) this.#pendingOutput.push(bytes);
    for (const l of this.#outputListeners) l(bytes);
  }

  #end(notice: Notice) {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#timer);
    for (const l of this.#noticeListeners) l(notice);
  }

  #ping() {
    const seq = ++this.#seq;
    this.#pings.set(seq, performance.now());
    if (this.#pings.size > 16) this.#pings.delete(seq - 16);
    void this.#write(this.control, encodeJson({ type: "ping", seq }));
  }

  async #write(stream: Stream, bytes: Uint8Array) {
    if (this.#ended) throw new Error("the connection is closed");
    await stream.writer.write(bytes);
  }

  async send(keys: string | Uint8Array) {
    if (!this.#input) throw new Error("this connection has no input channel");
    const bytes = typeof keys === "string" ? new TextEncoder().encode(keys) : keys;
    for (let at = 0; at < bytes.length; at += MAX_DATA_LEN) await this.#write(this.#input, encodeData(bytes.subarray(at, at + MAX_DATA_LEN)));
  }

  async resize(cols: number, rows: number) {
    if (!this.#input) throw new Error("this connection has no input channel");
    await this.#write(this.#input, encodeJson({ type: "resize", cols, rows }));
  }

  onOutput(listener: (bytes: Uint8Array) => void) {
    this.#outputListeners.add(listener);
    for (const b of this.#pendingOutput.splice(0)) listener(b);
    return () => this.#outputListeners.delete(listener);
  }

  onNotice(listener: (notice: Notice) => void) {
    this.#noticeListeners.add(listener);
    return () => this.#noticeListeners.delete(listener);
  }

  async openChannel(name: Exclude<StreamKindName, "control">): Promise<ChannelStream> {
    if (!this.channels.includes(name)) throw new Error(`this connection may not open the ${name} channel`);
    if (this.#ended) throw new Error("the connection is closed");
    const stream = await openStream(this.wt, name);
    const listeners = new Set<(frame: Frame) => void>();
    const early: Frame[] = [];
    const ended = pump(stream.reader, new FrameDecoder(), (f) => {
      if (listeners.size === 0) early.push(f);
      for (const l of listeners) l(f);
    }).then(
      () => ({}),
      (error: Error) => ({ error }),
    );
    return {
      name,
      sendJson: (m) => this.#write(stream, encodeJson(m)),
      sendData: (p) => this.#write(stream, encodeData(p)),
      onFrame(listener) {
        listeners.add(listener);
        for (const f of early.splice(0)) listener(f);
        return () => listeners.delete(listener);
      },
      ended,
    };
  }

  rtt() {
    return this.#rtt;
  }

  async detach() {
    await this.#write(this.control, encodeJson({ type: "detach" })).catch(() => undefined);
    // The entry closes the transport on detach; close here too if it takes long.
    await withTimeout(this.closed, 2_000, "closing after detach").catch(() => this.close());
  }

  close() {
    clearInterval(this.#timer);
    try {
      this.wt.close({ closeCode: 0, reason: "client closed" });
    } catch {
      // already closed
    }
  }
}
