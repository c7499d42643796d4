/**
 * The RDP benchmark's raw X11 client against a real Xvfb: what it draws is on
 * the screen (read back by `xwd`, not by itself), another connection's
 * DAMAGE watch reports the drawn area, and a bad display name is refused.
 * The benchmark's latency figures rest on exactly these.
 */
import { afterAll, beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { sleep } from "../../core/runtime/index.ts";
import { startXvfb, type Xvfb } from "../../fixtures/rdp/index.ts";
import { busyLayout, startBusyWorkload } from "./rdp-workload.ts";
import { type DamageRect, X11 } from "./rdp-x11.ts";

let xvfb: Xvfb;

beforeAll(async () => {
  xvfb = await startXvfb(1024, 768);
});
afterAll(async () => {
  await xvfb?.stop();
});

const rgbAt = (img: { width: number; data: Uint8Array }, x: number, y: number) => {
  const i = (y * img.width + x) * 4;
  return (img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!;
};

describe("raw X11 client (rdp-x11.ts)", () => {
  test("a synced fill is on the screen, exactly, and pixel() reads it", async () => {
    const x = await X11.open(xvfb.x.display);
    try {
      expect([x.width, x.height]).toEqual([1024, 768]);
      const { sentMs, doneMs } = await x.fillSynced(64, 64, 64, 64, 0x12ab34);
      expect(doneMs).toBeGreaterThanOrEqual(sentMs);
      const shot = await xvfb.x.screenshot();
      expect(rgbAt(shot, 64, 64)).toBe(0x12ab34);
      expect(rgbAt(shot, 127, 127)).toBe(0x12ab34);
      expect(rgbAt(shot, 128, 128)).toBe(0x000000);
      expect(await x.pixel(100, 100)).toBe(0x12ab34);
    } finally {
      x.close();
    }
  });

  test("putImage and text draw what they are given", async () => {
    const x = await X11.open(xvfb.x.display);
    try {
      const bgrx = new Uint8Array(2 * 2 * 4);
      bgrx.set([0x33, 0x22, 0x11, 0], 0); // BGRX of 0x112233
      bgrx.set([0x66, 0x55, 0x44, 0], 12); // bottom right: 0x445566
      x.putImage(10, 10, 2, 2, bgrx);
      await x.useFont("fixed");
      x.text(0, 200, "X", 0xffffff, 0x0000ff);
      await x.sync();
      expect(await x.pixel(10, 10)).toBe(0x112233);
      expect(await x.pixel(11, 11)).toBe(0x445566);
      const shot = await xvfb.x.screenshot();
      const glyph = new Set<number>();
      for (let yy = 185; yy < 205; yy++) for (let xx = 0; xx < 8; xx++) glyph.add(rgbAt(shot, xx, yy));
      expect(glyph.has(0xffffff) && glyph.has(0x0000ff)).toBe(true);
      expect(() => x.putImage(0, 0, 2, 2, new Uint8Array(3))).toThrow("putImage");
    } finally {
      x.close();
    }
  });

  test("DAMAGE on the root reports another client's drawing", async () => {
    const watcher = await X11.open(xvfb.x.display);
    const drawer = await X11.open(xvfb.x.display);
    try {
      const seen: DamageRect[] = [];
      await watcher.watchDamage((r) => seen.push(r));
      await drawer.fillSynced(192, 128, 64, 32, 0xff00ff);
      await watcher.sync();
      const deadline = Date.now() + 5000;
      while (!seen.some((r) => r.x <= 192 && r.y <= 128 && r.x + r.w >= 256 && r.y + r.h >= 160) && Date.now() < deadline) await sleep(10);
      expect(seen.some((r) => r.x <= 192 && r.y <= 128 && r.x + r.w >= 256 && r.y + r.h >= 160)).toBe(true);
    } finally {
      watcher.close();
      drawer.close();
    }
  });

  test("the busy workload animates at its own rate and stops", async () => {
    const x = await X11.open(xvfb.x.display);
    try {
      await x.useFont("fixed");
      const w = startBusyWorkload(x, busyLayout(x.width, x.height));
      const deadline = Date.now() + 5000;
      while (w.steps() < 6 && Date.now() < deadline) await sleep(20);
      await w.stop();
      const after = w.steps();
      expect(after).toBeGreaterThanOrEqual(6);
      await sleep(100);
      expect(w.steps()).toBe(after);
    } finally {
      x.close();
    }
  });

  test("a display that is not :N is refused with the reason", async () => {
    await expect(X11.open("localhost:0")).rejects.toThrow('display "localhost:0" is not :N');
  });
});
