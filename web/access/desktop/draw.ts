/**
 * Drawing tile messages onto a 2D canvas context, the same code in the
 * drawing worker (OffscreenCanvas) and on the main thread (the fallback).
 * PNG and JPEG tiles are decoded with `createImageBitmap` (off the main
 * thread in the worker, and asynchronously in either case), all tiles of a
 * message at once, then drawn in message order so a later tile wins; SOLID
 * tiles are a `fillRect`. A tile that fails to decode is skipped and counted,
 * the rest of the message is still drawn.
 */
import { MIME, solidColor, type Tile, type TileMessage } from "../client/rdp-wire.ts";

export type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/** No colour management or premultiplication: lossless tiles must land on the canvas bit for bit. */
const DECODE: ImageBitmapOptions = { colorSpaceConversion: "none", premultiplyAlpha: "none" };

async function decode(t: Tile): Promise<ImageBitmap | null> {
  if (t.encoding === "solid") return null;
  return createImageBitmap(new Blob([t.bytes as Uint8Array<ArrayBuffer>], { type: MIME[t.encoding] }), DECODE);
}

/** Draws one message; resolves with how many tiles could not be decoded. */
export async function drawTiles(ctx: Context2D, message: TileMessage): Promise<number> {
  const decoded = await Promise.allSettled(message.tiles.map(decode));
  let failed = 0;
  message.tiles.forEach((t, i) => {
    const d = decoded[i]!;
    if (d.status === "rejected") {
      failed++;
      return;
    }
    if (t.encoding === "solid") {
      ctx.fillStyle = solidColor(t);
      ctx.fillRect(t.x, t.y, t.w, t.h);
    } else if (d.value) {
      // Only the tile's own rectangle, whatever size the image claims.
      ctx.drawImage(d.value, 0, 0, t.w, t.h, t.x, t.y, t.w, t.h);
      d.value.close();
    }
  });
  return failed;
}
