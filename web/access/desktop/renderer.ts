/**
 * Puts tile messages on the desktop canvas: in a drawing worker that owns
 * the canvas as an OffscreenCanvas when the browser can (decoding and
 * drawing off the main thread), else on the main thread with the same code
 * (draw.ts). The worker is started first and must say it is ready before the
 * canvas is handed over: a canvas transferred to a worker that failed to
 * load (a missing script, a CSP refusal) could never be drawn on again.
 * `draw` resolves once the message is on the canvas, which is when the
 * viewer may acknowledge the frame.
 */
import { parseTileMessage, type TileMessage } from "../client/rdp-wire.ts";
import { type Context2D, drawTiles } from "./draw.ts";
import type { FromWorker, ToWorker } from "./worker-protocol.ts";

export interface DrawResult {
  /** Tiles that could not be decoded. */
  failed: number;
  /** The message could not be drawn at all (a malformed message, no canvas). */
  error?: string;
}

export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export interface Renderer {
  readonly mode: "worker" | "main-thread";
  /** Resizes the canvas (this clears it) after the draws already queued. */
  resize(width: number, height: number): void;
  /** Draws one tile message (its bytes; the buffer may be transferred to the worker and become unusable here). */
  draw(bytes: Uint8Array, message?: TileMessage): Promise<DrawResult>;
  /** The canvas's RGBA pixels once the draws queued before are done (tests, screenshots). */
  read(): Promise<Pixels>;
  dispose(): void;
}

/** How long a worker may take to load and say ready before the main thread draws instead. */
const WORKER_READY_MS = 5_000;

export async function createRenderer(canvas: HTMLCanvasElement, o: { workerUrl?: string | URL | null } = {}): Promise<Renderer> {
  if (o.workerUrl && typeof Worker === "function" && typeof canvas.transferControlToOffscreen === "function") {
    const worker = await startWorker(o.workerUrl);
    if (worker) return workerRenderer(canvas, worker);
  }
  return mainThreadRenderer(canvas);
}

function startWorker(url: string | URL): Promise<Worker | null> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(url, { type: "module", name: "rdp-render" });
    } catch {
      return resolve(null);
    }
    const done = (ok: boolean) => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      if (!ok) worker.terminate();
      resolve(ok ? worker : null);
    };
    const onMessage = (e: MessageEvent<FromWorker>) => e.data?.type === "ready" && done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), WORKER_READY_MS);
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}

function workerRenderer(canvas: HTMLCanvasElement, worker: Worker): Renderer {
  const offscreen = canvas.transferControlToOffscreen();
  const post = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
  post({ type: "init", canvas: offscreen, width: canvas.width, height: canvas.height }, [offscreen]);
  const pending = new Map<number, (r: DrawResult) => void>();
  const reads = new Map<number, (p: Pixels) => void>();
  let next = 0;
  worker.addEventListener("message", (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === "pixels") {
      reads.get(m.id)?.({ width: m.width, height: m.height, data: new Uint8ClampedArray(m.data) });
      reads.delete(m.id);
    }
    if (m.type !== "drawn") return;
    pending.get(m.id)?.({ failed: m.failed, ...(m.error && { error: m.error }) });
    pending.delete(m.id);
  });
  worker.addEventListener("error", (e) => {
    for (const done of pending.values()) done({ failed: 0, error: `the drawing worker failed: ${e.message}` });
    pending.clear();
  });
  return {
    mode: "worker",
    resize: (width, height) => post({ type: "resize", width, height }),
    draw(bytes) {
      const id = next++;
      const result = new Promise<DrawResult>((r) => pending.set(id, r));
      post({ type: "tiles", id, buffer: bytes.buffer as ArrayBuffer, offset: bytes.byteOffset, length: bytes.byteLength }, [bytes.buffer as ArrayBuffer]);
      return result;
    },
    read() {
      const id = next++;
      const result = new Promise<Pixels>((r) => reads.set(id, r));
      post({ type: "read", id });
      return result;
    },
    dispose() {
      for (const done of pending.values()) done({ failed: 0, error: "the viewer closed" });
      pending.clear();
      worker.terminate();
    },
  };
}

function mainThreadRenderer(canvas: HTMLCanvasElement): Renderer {
  const ctx = canvas.getContext("2d", { alpha: false }) as Context2D | null;
  let chain: Promise<unknown> = Promise.resolve();
  let disposed = false;
  return {
    mode: "main-thread",
    resize(width, height) {
      chain = chain.then(() => {
        canvas.width = width;
        canvas.height = height;
      });
    },
    draw(bytes, message) {
      const run = async (): Promise<DrawResult> => {
        if (disposed) return { failed: 0, error: "the viewer closed" };
        if (!ctx) return { failed: 0, error: "this browser gave no 2D canvas context" };
        try {
          const m = message ?? parseTileMessage(bytes, { width: canvas.width, height: canvas.height });
          return { failed: await drawTiles(ctx, m) };
        } catch (err) {
          return { failed: 0, error: (err as Error).message };
        }
      };
      const p = chain.then(run);
      chain = p;
      return p;
    },
    read() {
      const p = chain.then(() => {
        const { width, height } = canvas;
        return { width, height, data: ctx ? ctx.getImageData(0, 0, width, height).data : new Uint8ClampedArray(0) };
      });
      chain = p;
      return p;
    },
    dispose() {
      disposed = true;
    },
  };
}
