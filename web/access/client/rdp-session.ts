/**
 * An RDP attachment over the access client's connection (connect.ts): after
 * welcome it opens the input and render streams, and the clipboard and
 * file_transfer streams when `welcome.channels` lists them, and turns their
 * frames into typed events (desktop, tiles, stats, notices, clipboard) and
 * methods (input, resize, quality, refresh, clipboard, upload, download).
 * The wire formats are rdp-wire.ts's. No DOM: the portal's viewer and Bun
 * tests use the same class. Frames are acknowledged (`frame_ack`) by the
 * caller once drawn, or right after the listeners ran with `autoAck`.
 */
import type { ErrorEvent } from "../../../core/contracts/data-plane-token.ts";
import { type AccessSession, type ChannelStream, type ConnectOptions, connect, type Notice } from "./connect.ts";
import type { Frame, JsonMessage } from "./frame.ts";
import {
  type ClipboardMessage,
  checkFileSize,
  clipboardMessage,
  type DesktopInfo,
  DownloadAssembler,
  downloadCancel,
  downloadList,
  downloadStart,
  type FileServerMessage,
  fileChunks,
  frameAck,
  type InputEvent,
  coalesceMoves,
  encodeInputBatch,
  newTransferId,
  type NoticeError,
  parseClipboard,
  parseDesktop,
  parseFileMessage,
  parseNotice,
  parseStats,
  parseTileMessage,
  qualityMessage,
  type RdpStats,
  RdpWireError,
  type RemoteFile,
  refreshMessage,
  resizeMessage,
  sha256Hex,
  type TileMessage,
  uploadEnd,
  uploadStart,
} from "./rdp-wire.ts";

export type TransferMode = "disabled" | "client_to_server" | "server_to_client" | "bidirectional";

/** A notice that does not end the session: from the adapter, or this client's own reading of a bad message. */
export interface RdpNotice extends NoticeError {
  channel: "render" | "input" | "clipboard" | "file_transfer";
  transfer_id?: string;
}

export interface RdpEvents {
  desktop: DesktopInfo;
  /** One tile message, parsed; `bytes` is its DATA payload (for handing to a drawing worker). */
  tiles: { message: TileMessage; bytes: Uint8Array };
  stats: RdpStats;
  notice: RdpNotice;
  /** Text from the server's clipboard, its hash checked. */
  clipboard: ClipboardMessage;
  /** The connection ended: taken over, session ended, an entry error, or closed. */
  end: Notice;
}

/** What this client counted, cumulative since attach: rates are differences between two reads. */
export interface ClientCounters {
  renderBytes: number;
  frames: number;
  tiles: number;
  /** Milliseconds from a frame's first message arriving to its acknowledgement (drawn), for the last frame. */
  lastFrameMs: number | null;
}

export class RdpTransferError extends Error {
  constructor(readonly error: NoticeError) {
    super(`${error.code}: ${error.fallback_message}`);
    this.name = "RdpTransferError";
  }
}

type Listener<T> = (value: T) => void;
const EARLY_LIMIT = 256;

/** The resource's clipboard and file policy as the data-plane token states it (the entry and adapter enforce it; this only shapes the UI). */
export function policyFromToken(token: string, channels: readonly string[]): { clipboard: TransferMode; file_transfer: TransferMode } {
  const fallback = (ch: string): TransferMode => (channels.includes(ch) ? "bidirectional" : "disabled");
  try {
    const part = token.split(".")[1] ?? "";
    const json = new TextDecoder().decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)));
    const pol = (JSON.parse(json) as { pol?: Record<string, unknown> }).pol ?? {};
    const mode = (v: unknown, ch: string): TransferMode =>
      !channels.includes(ch)
        ? "disabled"
        : ["client_to_server", "server_to_client", "bidirectional"].includes(v as string)
          ? (v as TransferMode)
          : fallback(ch);
    return { clipboard: mode(pol.clipboard, "clipboard"), file_transfer: mode(pol.file_transfer, "file_transfer") };
  } catch {
    return { clipboard: fallback("clipboard"), file_transfer: fallback("file_transfer") };
  }
}

export const allowsToServer = (m: TransferMode) => m === "client_to_server" || m === "bidirectional";
export const allowsToClient = (m: TransferMode) => m === "server_to_client" || m === "bidirectional";

interface PendingUpload {
  id: string;
  ready: (ok: boolean, err?: NoticeError) => void;
  done: (m: FileServerMessage & { type: "file_upload.done" }) => void;
  fail: (err: NoticeError) => void;
}
interface PendingDownload {
  id: string;
  assembler?: DownloadAssembler;
  onProgress?: (received: number, total: number) => void;
  resolve: (r: { name: string; bytes: Uint8Array; sha256: string }) => void;
  reject: (err: Error) => void;
}

export class RdpSession {
  readonly policy: { clipboard: TransferMode; file_transfer: TransferMode };
  #listeners = new Map<keyof RdpEvents, Set<Listener<never>>>();
  /** Events that came before their first listener (the page subscribes a moment after attach): handed to it. */
  #early = new Map<keyof RdpEvents, unknown[]>();
  #desktop: DesktopInfo | null = null;
  #counters: ClientCounters = { renderBytes: 0, frames: 0, tiles: 0, lastFrameMs: null };
  #frameStarted = new Map<number, number>();
  #clipboardSeq = 0;
  #lastServerClipboard: ClipboardMessage | null = null;
  #upload: PendingUpload | null = null;
  #download: PendingDownload | null = null;
  #lists: ((r: { files?: RemoteFile[]; error?: NoticeError }) => void)[] = [];
  #uploads: Promise<unknown> = Promise.resolve();
  #ended = false;
  #downloads: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly access: AccessSession,
    private readonly input: ChannelStream,
    private readonly render: ChannelStream,
    private readonly clipboardStream: ChannelStream | null,
    private readonly files: ChannelStream | null,
    token: string,
    private readonly autoAck: boolean,
  ) {
    this.policy = policyFromToken(token, access.channels);
  }

  /** Opens the RDP channels on a connection made with `terminalChannels: false`. */
  static async attach(access: AccessSession, o: { token: string; autoAck?: boolean }): Promise<RdpSession> {
    for (const ch of ["input", "render"]) if (!access.channels.includes(ch)) throw new Error(`the entry did not allow the ${ch} channel`);
    const input = await access.openChannel("input");
    const render = await access.openChannel("render");
    const clip = access.channels.includes("clipboard") ? await access.openChannel("clipboard") : null;
    const files = access.channels.includes("file_transfer") ? await access.openChannel("file_transfer") : null;
    const s = new RdpSession(access, input, render, clip, files, o.token, o.autoAck ?? false);
    s.#wire();
    return s;
  }

  get transport() {
    return this.access.transport;
  }
  get sessionId() {
    return this.access.sessionId;
  }
  get attachmentId() {
    return this.access.attachmentId;
  }
  get closed() {
    return this.access.closed;
  }
  /** The latest `desktop` message, or null before the first. */
  get desktop(): DesktopInfo | null {
    return this.#desktop;
  }
  /** The last clipboard text the server sent (also sent once on attach when server→client is allowed). */
  get serverClipboard(): ClipboardMessage | null {
    return this.#lastServerClipboard;
  }
  get hasClipboard(): boolean {
    return this.clipboardStream !== null;
  }
  get hasFileTransfer(): boolean {
    return this.files !== null;
  }
  counters(): ClientCounters {
    return { ...this.#counters };
  }
  /** The last ping round trip to the entry, in milliseconds. */
  rtt(): number | undefined {
    return this.access.rtt();
  }

  on<K extends keyof RdpEvents>(event: K, listener: Listener<RdpEvents[K]>): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, set);
    set.add(listener as Listener<never>);
    if (event === "desktop" && this.#desktop) (listener as Listener<DesktopInfo>)(this.#desktop);
    else for (const v of this.#early.get(event)?.splice(0) ?? []) (listener as Listener<unknown>)(v);
    return () => set.delete(listener as Listener<never>);
  }

  #emit<K extends keyof RdpEvents>(event: K, value: RdpEvents[K]) {
    if (!this.#listeners.get(event)?.size) {
      const early = this.#early.get(event) ?? [];
      this.#early.set(event, early);
      // Bounded: a caller that never listens does not grow this (the adapter's window of 2 frames keeps tiles few anyway).
      if (event !== "desktop" && early.length < EARLY_LIMIT) early.push(value);
      return;
    }
    for (const l of (this.#listeners.get(event) ?? []) as Set<Listener<RdpEvents[K]>>) {
      try {
        l(value);
      } catch (err) {
        // A listener's bug must not stop the stream's reader; it is reported where a developer looks.
        console.error(`rdp-session: a ${event} listener threw`, err);
      }
    }
  }

  #notice(channel: RdpNotice["channel"], err: unknown, transferId?: string) {
    const e: NoticeError =
      err instanceof RdpWireError
        ? { code: err.code, message_key: `errors.${err.code}`, fallback_message: err.message, details: {} }
        : err instanceof RdpTransferError
          ? err.error
          : { code: "internal.error", message_key: "errors.internal.error", fallback_message: String((err as Error)?.message ?? err), details: {} };
    this.#emit("notice", { ...e, channel, ...(transferId && { transfer_id: transferId }) });
  }

  #wire() {
    this.access.onNotice((n) => {
      this.#ended = true;
      this.#failTransfers({
        code: n.type === "closed" ? "data_plane.closed" : "data_plane.ended",
        message_key: "",
        fallback_message: "the connection ended",
        details: {},
      });
      this.#emit("end", n);
    });
    this.render.onFrame((f) => this.#onRender(f));
    this.input.onFrame((f) => f.kind === "json" && f.message.type === "error" && this.#emit("notice", { ...parseNotice(f.message), channel: "input" }));
    this.clipboardStream?.onFrame((f) => void this.#onClipboard(f));
    this.files?.onFrame((f) => void this.#onFile(f));
    // A stream that breaks while the connection lives is news; one that ends with the connection is not.
    for (const s of [this.input, this.render, this.clipboardStream, this.files])
      void s?.ended.then(({ error }) => error && !this.#ended && this.#notice(s.name as RdpNotice["channel"], error));
  }

  #onRender(f: Frame) {
    if (f.kind === "json") {
      try {
        if (f.message.type === "desktop") {
          this.#desktop = parseDesktop(f.message);
          this.#emit("desktop", this.#desktop);
        } else if (f.message.type === "stats") this.#emit("stats", parseStats(f.message));
        else if (f.message.type === "error") this.#emit("notice", { ...parseNotice(f.message), channel: "render" });
        // Other types: a newer adapter's additions, ignored (docs/protocol.md, versioning).
      } catch (err) {
        this.#notice("render", err);
      }
      return;
    }
    const bytes = f.payload;
    this.#counters.renderBytes += bytes.length;
    let message: TileMessage;
    try {
      message = parseTileMessage(bytes, this.#desktop ?? undefined);
    } catch (err) {
      this.#notice("render", err);
      // The header may still say which frame this ended: acknowledge it, so the adapter's window of 2 does not stall.
      if (bytes.length >= 6 && bytes[0] === 1 && (bytes[5]! & 1) === 1) void this.ack(new DataView(bytes.buffer, bytes.byteOffset).getUint32(1));
      return;
    }
    if (!this.#frameStarted.has(message.frameSeq)) this.#frameStarted.set(message.frameSeq, performance.now());
    this.#counters.tiles += message.tiles.length;
    this.#emit("tiles", { message, bytes });
    if (message.last && this.autoAck) void this.ack(message.frameSeq);
  }

  /** Tells the adapter frame `seq` is drawn (after its last message). */
  async ack(seq: number): Promise<void> {
    const started = this.#frameStarted.get(seq);
    if (started !== undefined) this.#counters.lastFrameMs = performance.now() - started;
    this.#frameStarted.delete(seq);
    // Frames are acked in order; older entries left by a lost message would otherwise pile up.
    for (const k of this.#frameStarted.keys()) if (k < seq && seq - k < 0x8000_0000) this.#frameStarted.delete(k);
    this.#counters.frames++;
    await this.render.sendJson(frameAck(seq)).catch(() => undefined);
  }

  async #onClipboard(f: Frame) {
    if (f.kind !== "json") return this.#notice("clipboard", new RdpWireError("protocol.invalid_message", "DATA on the clipboard stream"));
    if (f.message.type === "error") return this.#emit("notice", { ...parseNotice(f.message), channel: "clipboard" });
    if (f.message.type !== "clipboard") return;
    try {
      const m = await parseClipboard(f.message);
      this.#lastServerClipboard = m;
      this.#emit("clipboard", m);
    } catch (err) {
      this.#notice("clipboard", err);
    }
  }

  /** Sends input events as one batch (consecutive mouse moves collapse into the last). */
  async sendInput(events: readonly InputEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.input.sendData(encodeInputBatch(coalesceMoves(events)));
  }

  /** Asks for a desktop of `width`×`height` pixels (200..8192 each); the server may ignore it (`desktop.resizable`). */
  async resize(width: number, height: number): Promise<void> {
    await this.input.sendJson(resizeMessage(width, height));
  }

  async setQuality(q: { profile?: string; color_mode?: string }): Promise<void> {
    await this.input.sendJson(qualityMessage(q));
  }

  /** Asks for every tile again. */
  async refresh(): Promise<void> {
    await this.input.sendJson(refreshMessage());
  }

  /** Puts `text` on the server's clipboard (when the policy allows client→server). */
  async sendClipboard(text: string): Promise<ClipboardMessage> {
    if (!this.clipboardStream) throw new Error("the clipboard channel is not allowed on this session");
    const m = await clipboardMessage(++this.#clipboardSeq, text);
    await this.clipboardStream.sendJson(m as unknown as JsonMessage);
    return m;
  }

  // ------------------------------------------------------------ files

  #fileStream(): ChannelStream {
    if (!this.files) throw new Error("the file_transfer channel is not allowed on this session");
    return this.files;
  }

  async #onFile(f: Frame) {
    if (f.kind === "data") {
      const d = this.#download;
      if (!d?.assembler) return this.#notice("file_transfer", new RdpWireError("protocol.invalid_message", "file bytes with no download in progress"));
      try {
        d.assembler.push(f.payload);
        d.onProgress?.(d.assembler.received, d.assembler.size);
      } catch (err) {
        this.#download = null;
        void this.files?.sendJson(downloadCancel(d.id)).catch(() => undefined);
        d.reject(err as Error);
      }
      return;
    }
    let m: FileServerMessage | null;
    try {
      m = parseFileMessage(f.message);
    } catch (err) {
      return this.#notice("file_transfer", err);
    }
    if (!m) return;
    const up = this.#upload;
    const down = this.#download;
    switch (m.type) {
      case "file_upload.ready":
        if (up?.id === m.transfer_id) up.ready(true);
        return;
      case "file_upload.done":
        if (up?.id === m.transfer_id) up.done(m);
        return;
      case "file_download.files":
        this.#lists.shift()?.({ files: m.files });
        return;
      case "file_download.begin":
        if (down?.id !== m.transfer_id) return;
        try {
          down.assembler = new DownloadAssembler(m.transfer_id, m.name, m.size);
          down.onProgress?.(0, m.size);
        } catch (err) {
          this.#download = null;
          down.reject(err as Error);
        }
        return;
      case "file_download.end":
        if (down?.id !== m.transfer_id || !down.assembler) return;
        this.#download = null;
        down.assembler.finish(m.sha256).then(down.resolve, down.reject);
        return;
      case "error": {
        const id = m.transfer_id;
        if (id && up?.id === id) return up.fail(m.error);
        if (id && down?.id === id) {
          this.#download = null;
          return down.reject(new RdpTransferError(m.error));
        }
        // An error for no transfer in progress answers the oldest list request, if any; else it is a notice.
        const list = this.#lists.shift();
        if (list) return list({ error: m.error });
        this.#emit("notice", { ...m.error, channel: "file_transfer", ...(id && { transfer_id: id }) });
        return;
      }
    }
  }

  #failTransfers(err: NoticeError) {
    this.#upload?.fail(err);
    this.#download?.reject(new RdpTransferError(err));
    this.#download = null;
    for (const l of this.#lists.splice(0)) l({ error: err });
  }

  /**
   * Uploads a file to the session's transfer folder (drive `RAP_Transfers` on
   * the target): start, wait for ready, 256 KiB chunks, end with the SHA-256,
   * wait for done. One upload at a time; later calls wait their turn.
   */
  upload(
    name: string,
    data: Uint8Array | Blob,
    o: { onProgress?: (sent: number, total: number) => void } = {},
  ): Promise<{ name: string; size: number; sha256: string }> {
    const run = async () => {
      const files = this.#fileStream();
      checkFileSize(data instanceof Uint8Array ? data.length : data.size);
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer());
      const id = newTransferId();
      const sha256 = await sha256Hex(bytes);
      let failed: NoticeError | null = null;
      let readyWait!: (ok: boolean) => void;
      let doneWait!: (m: { name: string; size: number; sha256: string } | null) => void;
      const ready = new Promise<boolean>((r) => (readyWait = r));
      const done = new Promise<{ name: string; size: number; sha256: string } | null>((r) => (doneWait = r));
      this.#upload = {
        id,
        ready: readyWait,
        done: (m) => doneWait({ name: m.name, size: m.size, sha256: m.sha256 }),
        fail: (err) => {
          failed = err;
          readyWait(false);
          doneWait(null);
        },
      };
      try {
        await files.sendJson(uploadStart(id, name, bytes.length));
        if (!(await ready)) throw new RdpTransferError(failed!);
        let sent = 0;
        for (const chunk of fileChunks(bytes)) {
          if (failed) throw new RdpTransferError(failed);
          await files.sendData(chunk);
          sent += chunk.length;
          o.onProgress?.(sent, bytes.length);
        }
        await files.sendJson(uploadEnd(id, sha256));
        const result = await done;
        if (!result) throw new RdpTransferError(failed!);
        return result;
      } finally {
        if (this.#upload?.id === id) this.#upload = null;
      }
    };
    const p = this.#uploads.then(run, run);
    this.#uploads = p.catch(() => undefined);
    return p;
  }

  /** The files the target put in the transfer folder's `ToClient/`. */
  async listDownloads(): Promise<RemoteFile[]> {
    const files = this.#fileStream();
    const answer = new Promise<{ files?: RemoteFile[]; error?: NoticeError }>((r) => this.#lists.push(r));
    await files.sendJson(downloadList());
    const r = await answer;
    if (r.error) throw new RdpTransferError(r.error);
    return r.files ?? [];
  }

  /** Downloads one file of `ToClient/`, checking its size and SHA-256. One download at a time. */
  download(name: string, o: { onProgress?: (received: number, total: number) => void } = {}): Promise<{ name: string; bytes: Uint8Array; sha256: string }> {
    const run = () =>
      new Promise<{ name: string; bytes: Uint8Array; sha256: string }>((resolve, reject) => {
        const files = this.#fileStream();
        const id = newTransferId();
        const message = downloadStart(id, name);
        this.#download = { id, resolve, reject, ...(o.onProgress && { onProgress: o.onProgress }) };
        files.sendJson(message).catch((err) => {
          if (this.#download?.id === id) this.#download = null;
          reject(err);
        });
      });
    const p = this.#downloads.then(run, run);
    this.#downloads = p.catch(() => undefined);
    return p;
  }

  /** Cancels the download in progress, if any (its promise rejects with `file_download.cancelled`). */
  cancelDownload(): void {
    const d = this.#download;
    if (!d) return;
    this.#download = null;
    void this.files?.sendJson(downloadCancel(d.id)).catch(() => undefined);
    d.reject(
      new RdpTransferError({
        code: "file_download.cancelled",
        message_key: "errors.file_download.cancelled",
        fallback_message: "The download was cancelled.",
        details: {},
      }),
    );
  }

  /** Leaves the session running on its adapter (reattach later), then closes. */
  detach(): Promise<void> {
    return this.access.detach();
  }

  close(): void {
    this.access.close();
  }
}

export interface RdpConnectOptions extends Omit<ConnectOptions, "terminalChannels"> {
  /** Acknowledge a frame as soon as its last message was handed to the `tiles` listeners (tests, tools). Default false: call `ack` once drawn. */
  autoAck?: boolean;
}

/** Connects to the entry (connect.ts) and attaches to the session's desktop. */
export async function connectRdp(o: RdpConnectOptions): Promise<RdpSession> {
  const { autoAck, ...options } = o;
  const access = await connect({ ...options, terminalChannels: false });
  try {
    return await RdpSession.attach(access, { token: o.token, autoAck: autoAck ?? false });
  } catch (err) {
    access.close();
    throw err;
  }
}

export type { ErrorEvent };
