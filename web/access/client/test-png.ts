/**
 * A minimal PNG writer for tests (never used by the product): RGB, RGBA,
 * 8-bit palette and 8-bit grayscale images from RGBA pixels, so the viewer's
 * tests feed every PNG kind the adapter may send without depending on the
 * Rust encoder. Uses node:zlib, so Bun only.
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export type PngKind = "rgb" | "rgba" | "palette" | "gray";

/** `rgba`: w*h*4 bytes. For "palette" at most 256 distinct colours; for "gray" R is taken as the gray level. */
export function encodePng(rgba: Uint8Array, w: number, h: number, kind: PngKind): Uint8Array {
  const colorType = { rgb: 2, rgba: 6, palette: 3, gray: 0 }[kind];
  const bpp = { rgb: 3, rgba: 4, palette: 1, gray: 1 }[kind];
  const palette: number[] = [];
  const index = new Map<number, number>();
  const raw = new Uint8Array(h * (1 + w * bpp));
  for (let y = 0; y < h; y++) {
    let at = y * (1 + w * bpp) + 1; // filter byte 0 (None)
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      const [r, g, b, a] = [rgba[p]!, rgba[p + 1]!, rgba[p + 2]!, rgba[p + 3]!];
      if (kind === "rgb") raw.set([r, g, b], at);
      else if (kind === "rgba") raw.set([r, g, b, a], at);
      else if (kind === "gray") raw[at] = r;
      else {
        const key = (r << 16) | (g << 8) | b;
        let i = index.get(key);
        if (i === undefined) {
          i = palette.length / 3;
          if (i >= 256) throw new Error("more than 256 colours for a palette PNG");
          index.set(key, i);
          palette.push(r, g, b);
        }
        raw[at] = i;
      }
      at += bpp;
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(kind === "palette" ? [chunk("PLTE", new Uint8Array(palette))] : []),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
