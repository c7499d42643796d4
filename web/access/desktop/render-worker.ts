/**
 * The viewer's drawing worker: it receives the desktop canvas as an
 * OffscreenCanvas and the render stream's tile messages, decodes PNG and
 * JPEG tiles with createImageBitmap and draws them, so decoding and drawing
 * stay off the page's main thread (input and the UI stay responsive under a
 * busy desktop). Messages are drawn strictly in arrival order. Bundled on its
 * own (`/access/assets/rdp-worker.js`) and started by renderer.ts.
 */
import { parseTileMessage } from "../client/rdp-wire.ts";
import { type Context2D, drawTiles } from "./draw.ts";
import type { FromWorker, ToWorker } from "./worker-protocol.ts";

const scope = globalThis as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
let canvas: OffscreenCanvas | null = null;
let ctx: Context2D | null = null;
let chain: Promise<unknown> = Promise.resolve();

function size(width: number, height: number) {
  if (!canvas) return;
  canvas.width = width;
  canvas.height = height;
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") {
    canvas = m.canvas;
    ctx = canvas.getContext("2d", { alpha: false });
    size(m.width, m.height);
  } else if (m.type === "resize") {
    // After the draws queued before it, like the main-thread renderer.
    chain = chain.then(() => size(m.width, m.height));
  } else if (m.type === "read") {
    chain = chain.then(() => {
      const w = canvas?.width ?? 0;
      const h = canvas?.height ?? 0;
      const data = ctx && w && h ? ctx.getImageData(0, 0, w, h).data.buffer : new ArrayBuffer(0);
      (scope.postMessage as (m: FromWorker, t: Transferable[]) => void)({ type: "pixels", id: m.id, width: w, height: h, data }, [data]);
    });
  } else if (m.type === "tiles") {
    chain = chain.then(async () => {
      try {
        if (!ctx || !canvas) throw new Error("no canvas yet");
        const message = parseTileMessage(new Uint8Array(m.buffer, m.offset, m.length), { width: canvas.width, height: canvas.height });
        scope.postMessage({ type: "drawn", id: m.id, failed: await drawTiles(ctx, message) });
      } catch (err) {
        scope.postMessage({ type: "drawn", id: m.id, failed: 0, error: (err as Error).message });
      }
    });
  }
};
scope.postMessage({ type: "ready" });
