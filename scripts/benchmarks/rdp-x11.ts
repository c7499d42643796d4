/**
 * A minimal X11 client speaking the core protocol (and DAMAGE) over the
 * display's unix socket, for the RDP benchmark (scripts/benchmarks/rdp.ts).
 *
 * Why raw X11: the benchmark needs to know *when* a pixel changed on the
 * server's display to within a fraction of a millisecond, from the same process
 * (and clock) that watches the client. Spawning `xwud`/`xdotool` per change
 * would add a process start of unknown length; this client sends one
 * PolyFillRectangle and then a GetInputFocus round trip, whose reply proves
 * the X server executed the fill (requests run in order). The change instant
 * is bracketed by the write and that reply (reported as `syncUs`).
 *
 * Only what the benchmark uses: fills, CopyArea, PutImage (24-bit ZPixmap),
 * ImageText8 with a core font, GetImage of a small area, and DAMAGE
 * (RawRectangles) to learn when another client (xfreerdp) drew. Xvfb without
 * authorisation only (no cookie is sent).
 */
import { connect, type Socket } from "node:net";

const OP = {
  createGC: 55,
  changeGC: 56,
  getInputFocus: 43,
  openFont: 45,
  copyArea: 62,
  polyFillRectangle: 70,
  putImage: 72,
  getImage: 73,
  imageText8: 76,
  queryExtension: 98,
} as const;
const GC_FOREGROUND = 0x4;
const GC_BACKGROUND = 0x8;
const GC_FONT = 0x4000;
const GC_SUBWINDOW_MODE = 0x8000;
const GC_GRAPHICS_EXPOSURES = 0x10000;
const INCLUDE_INFERIORS = 1;

export interface DamageRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export class X11 {
  readonly root: number;
  readonly width: number;
  readonly height: number;
  private nextId: number;
  private readonly idMask: number;
  private buffered: Buffer = Buffer.alloc(0);
  private seq = 0;
  /** Replies awaited, by sequence number (requests without a reply never enter). */
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private damageEvent = -1;
  private damageMajor = -1;
  private damageListener: ((r: DamageRect, at: number) => void) | null = null;
  private gc = 0;
  private failed: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    setup: Buffer,
  ) {
    this.nextId = setup.readUInt32LE(4);
    this.idMask = setup.readUInt32LE(8);
    const vendorLen = setup.readUInt16LE(16);
    const formats = setup.readUInt8(21);
    const screen = 32 + vendorLen + pad4(vendorLen) + 8 * formats;
    this.root = setup.readUInt32LE(screen);
    this.width = setup.readUInt16LE(screen + 20);
    this.height = setup.readUInt16LE(screen + 22);
    const depth = setup.readUInt8(screen + 38);
    if (depth !== 24) throw new Error(`the X display's root depth is ${depth}, the benchmark draws 24-bit`);
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.fail(new Error("the X connection closed")));
  }

  /** Connects to `:N` (no authorisation: Xvfb as the fixtures start it). */
  static async open(display: string): Promise<X11> {
    const number = /^:(\d+)(?:\.\d+)?$/.exec(display)?.[1];
    if (number === undefined) throw new Error(`display "${display}" is not :N`);
    const socket = connect(`/tmp/.X11-unix/X${number}`);
    socket.setNoDelay?.(true);
    const setup = await new Promise<Buffer>((resolve, reject) => {
      let got = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 8) return;
        const need = 8 + got.readUInt16LE(6) * 4;
        if (got.length < need) return;
        socket.off("data", onData);
        if (got[0] !== 1) reject(new Error(`X connection refused: ${got.subarray(8, 8 + got[1]!).toString()}`));
        else resolve(got.subarray(8, need));
      };
      socket.on("data", onData);
      socket.once("error", reject);
      const hello = Buffer.alloc(12);
      hello.write("l", 0); // little-endian
      hello.writeUInt16LE(11, 2);
      socket.write(hello);
    });
    const x = new X11(socket, setup);
    // One GC for everything; IncludeInferiors so fills on the root draw over windows too.
    x.gc = x.newId();
    x.request(OP.createGC, 0, [x.gc, x.root, GC_FOREGROUND | GC_BACKGROUND | GC_SUBWINDOW_MODE | GC_GRAPHICS_EXPOSURES, 0, 0, INCLUDE_INFERIORS, 0]);
    await x.sync();
    return x;
  }

  private newId(): number {
    const id = this.nextId;
    this.nextId += 1;
    if ((this.nextId & ~this.idMask) !== (id & ~this.idMask)) throw new Error("out of X resource ids");
    return id;
  }

  private fail(e: Error) {
    if (this.failed) return;
    this.failed = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  /** Sends one request of 32-bit words (and optional trailing bytes, padded); returns its sequence number. */
  private request(opcode: number, data: number, words: number[], tail?: Uint8Array): number {
    if (this.failed) throw this.failed;
    const tailLen = tail ? tail.length + pad4(tail.length) : 0;
    const buf = Buffer.alloc(4 + words.length * 4 + tailLen);
    buf.writeUInt8(opcode, 0);
    buf.writeUInt8(data, 1);
    buf.writeUInt16LE(buf.length / 4, 2);
    words.forEach((w, i) => {
      buf.writeUInt32LE(w >>> 0, 4 + i * 4);
    });
    if (tail) buf.set(tail, 4 + words.length * 4);
    this.socket.write(buf);
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  private reply(seq: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.waiting.set(seq, { resolve, reject });
    });
  }

  private onData(d: Buffer) {
    const at = performance.now();
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, d]) : d;
    while (this.buffered.length >= 32) {
      const kind = this.buffered[0]!;
      const len = kind === 1 ? 32 + this.buffered.readUInt32LE(4) * 4 : 32;
      if (this.buffered.length < len) break;
      const msg = this.buffered.subarray(0, len);
      this.buffered = this.buffered.subarray(len);
      const seq = msg.readUInt16LE(2);
      if (kind === 0) {
        const w = this.waiting.get(seq);
        const err = new Error(`X error ${msg[1]} for request of sequence ${seq} (major ${msg[10]}, minor ${msg.readUInt16LE(8)})`);
        if (w) {
          this.waiting.delete(seq);
          w.reject(err);
        } else this.fail(err);
      } else if (kind === 1) {
        const w = this.waiting.get(seq);
        this.waiting.delete(seq);
        w?.resolve(Buffer.from(msg));
      } else if ((kind & 0x7f) === this.damageEvent && this.damageListener) {
        this.damageListener({ x: msg.readInt16LE(16), y: msg.readInt16LE(18), w: msg.readUInt16LE(20), h: msg.readUInt16LE(22) }, at);
      }
    }
  }

  /** A round trip: every request sent before it has been executed when this resolves. */
  async sync(): Promise<void> {
    await this.reply(this.request(OP.getInputFocus, 0, []));
  }

  private setForeground(rgb: number) {
    this.request(OP.changeGC, 0, [this.gc, GC_FOREGROUND, rgb]);
  }

  /** Fills a rectangle of the root with `rgb` (0xRRGGBB); not synced (call `sync`). */
  fill(x: number, y: number, w: number, h: number, rgb: number): void {
    this.setForeground(rgb);
    this.request(OP.polyFillRectangle, 0, [this.root, this.gc, (x & 0xffff) | ((y & 0xffff) << 16), w | (h << 16)]);
  }

  /**
   * Fills and waits for the X server to have executed it: returns the instants
   * (performance.now() ms) just before the write and when the sync reply came.
   */
  async fillSynced(x: number, y: number, w: number, h: number, rgb: number): Promise<{ sentMs: number; doneMs: number }> {
    const sentMs = performance.now();
    this.fill(x, y, w, h, rgb);
    await this.sync();
    return { sentMs, doneMs: performance.now() };
  }

  /** Copies a root area to another place on the root (scrolling). */
  copy(sx: number, sy: number, dx: number, dy: number, w: number, h: number): void {
    this.request(OP.copyArea, 0, [this.root, this.root, this.gc, (sx & 0xffff) | ((sy & 0xffff) << 16), (dx & 0xffff) | ((dy & 0xffff) << 16), w | (h << 16)]);
  }

  /** Puts a 24-bit image (BGRX bytes, 4 per pixel, `w*h*4`) at x,y of the root. */
  putImage(x: number, y: number, w: number, h: number, bgrx: Uint8Array): void {
    if (bgrx.length !== w * h * 4) throw new Error(`putImage: ${bgrx.length} bytes for ${w}x${h}`);
    this.request(OP.putImage, 2, [this.root, this.gc, w | (h << 16), (x & 0xffff) | ((y & 0xffff) << 16), 24 << 8], bgrx);
  }

  /** Opens a core font by name and makes it the GC's font. */
  async useFont(name: string): Promise<void> {
    const fid = this.newId();
    const bytes = new TextEncoder().encode(name);
    this.request(OP.openFont, 0, [fid, bytes.length], bytes);
    this.request(OP.changeGC, 0, [this.gc, GC_FONT, fid]);
    await this.sync();
  }

  /** Draws Latin-1 text (≤ 255 bytes) with its background at x, baseline y, in `fg` on `bg`. */
  text(x: number, y: number, s: string, fg: number, bg: number): void {
    const bytes = new TextEncoder().encode(s.slice(0, 255));
    this.request(OP.changeGC, 0, [this.gc, GC_FOREGROUND | GC_BACKGROUND, fg, bg]);
    this.request(OP.imageText8, bytes.length, [this.root, this.gc, (x & 0xffff) | ((y & 0xffff) << 16)], bytes);
  }

  /** The colour (0xRRGGBB) of one root pixel. */
  async pixel(x: number, y: number): Promise<number> {
    const r = await this.reply(this.request(OP.getImage, 2, [this.root, (x & 0xffff) | ((y & 0xffff) << 16), 1 | (1 << 16), 0xffffffff]));
    return r.readUInt32LE(32) & 0xffffff;
  }

  /** Reports every area drawn on the root (and, through it, its windows) with the instant its event arrived. */
  async watchDamage(listener: (r: DamageRect, atMs: number) => void): Promise<void> {
    const name = new TextEncoder().encode("DAMAGE");
    const q = await this.reply(this.request(OP.queryExtension, 0, [name.length], name));
    if (q[8] !== 1) throw new Error("the X server has no DAMAGE extension");
    this.damageMajor = q[9]!;
    this.damageEvent = q[10]!;
    await this.reply(this.request(this.damageMajor, 0, [1, 1])); // DamageQueryVersion 1.1 (required first)
    this.damageListener = listener;
    this.request(this.damageMajor, 1, [this.newId(), this.root, 0]); // DamageCreate, level RawRectangles
    await this.sync();
  }

  close(): void {
    this.damageListener = null;
    this.socket.destroy();
  }
}
