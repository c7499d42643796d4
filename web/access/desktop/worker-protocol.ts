/**
 * Messages between the viewer (renderer.ts) and its drawing worker
 * (render-worker.ts). The worker owns the canvas once it has been
 * transferred; the page only sends tile messages and sizes, and hears back
 * when a message is drawn (to acknowledge the frame after its last one).
 */
export type ToWorker =
  | { type: "init"; canvas: OffscreenCanvas; width: number; height: number }
  | { type: "resize"; width: number; height: number }
  /** One tile message's bytes (the buffer is transferred). */
  | { type: "tiles"; id: number; buffer: ArrayBuffer; offset: number; length: number }
  /** The canvas's pixels, after the draws queued before it. */
  | { type: "read"; id: number };

export type FromWorker =
  | { type: "ready" }
  | { type: "drawn"; id: number; failed: number; error?: string }
  | { type: "pixels"; id: number; width: number; height: number; data: ArrayBuffer };
