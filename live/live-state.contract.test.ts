/**
 * One contract, two implementations: the same tests run against the
 * in-process live state and against a real Redis (TEST_REDIS_URL, started by
 * scripts/test). Without TEST_REDIS_URL the Redis half is skipped, not faked.
 */
import { afterAll, beforeAll, describe, expect, test } from "../fixtures/test.ts";
import { sleep } from "../core/runtime/index.ts";
import type { LiveState } from "./live-state.ts";
import { memoryLiveState } from "./memory.ts";
import { redisLiveState } from "./redis.ts";
import { waitFor } from "../fixtures/wait.ts";
import { newId } from "../core/ids.ts";

interface Subject {
  live: LiveState;
  advance(ms: number): Promise<void>;
}

function contract(name: string, make: () => Promise<Subject>, enabled = true) {
  describe.skipIf(!enabled)(`live state contract: ${name}`, () => {
    let s: Subject;
    const key = () => `test:${newId()}`;
    beforeAll(async () => {
      s = await make();
    });
    afterAll(async () => {
      await s?.live.close();
    });

    test("set/get/del round-trip a value", async () => {
      const k = key();
      await s.live.set(k, "v1", 60_000);
      expect(await s.live.get(k)).toBe("v1");
      await s.live.del(k);
      expect(await s.live.get(k)).toBeNull();
    });

    test("a key expires after its TTL", async () => {
      const k = key();
      await s.live.set(k, "v", 80);
      expect(await s.live.get(k)).toBe("v");
      await s.advance(150);
      expect(await s.live.get(k)).toBeNull();
    });

    test("hset writes many fields in one call; hget reads one; later writes win", async () => {
      const h = key();
      await s.live.hset(h, [
        ["a", "1"],
        ["b", "2"],
      ]);
      await s.live.hset(h, [["b", "3"]]);
      expect([await s.live.hget(h, "a"), await s.live.hget(h, "b"), await s.live.hget(h, "c")]).toEqual(["1", "3", null]);
    });

    test("setIfAbsent grants one holder until the TTL lapses", async () => {
      const k = key();
      expect(await s.live.setIfAbsent(k, "a", 80)).toBe(true);
      expect(await s.live.setIfAbsent(k, "b", 80)).toBe(false);
      expect(await s.live.get(k)).toBe("a");
      await s.advance(150);
      expect(await s.live.setIfAbsent(k, "b", 80)).toBe(true);
    });

    test("incr counts within a window that starts at the first increment", async () => {
      const k = key();
      expect(await s.live.incr(k, 1, 100)).toBe(1);
      expect(await s.live.incr(k, 2, 100)).toBe(3);
      await s.advance(180);
      expect(await s.live.incr(k, 1, 100)).toBe(1);
    });

    test("concurrent increments lose nothing", async () => {
      const k = key();
      await Promise.all(Array.from({ length: 50 }, () => s.live.incr(k, 1, 60_000)));
      expect(await s.live.get(k)).toBe("50");
    });

    test("publish reaches every subscriber of the channel, and only them", async () => {
      const ch = key();
      const a: string[] = [];
      const b: string[] = [];
      const other: string[] = [];
      const ua = await s.live.subscribe(ch, (m) => a.push(m));
      const ub = await s.live.subscribe(ch, (m) => b.push(m));
      const uo = await s.live.subscribe(`${ch}:other`, (m) => other.push(m));
      await s.live.publish(ch, "hello");
      await waitFor(() => a.length === 1 && b.length === 1, { what: "both subscribers" });
      await ua();
      await s.live.publish(ch, "again");
      await waitFor(() => b.length === 2, { what: "second message" });
      expect(a).toEqual(["hello"]);
      expect(b).toEqual(["hello", "again"]);
      expect(other).toEqual([]);
      await ub();
      await uo();
    });
  });
}

let fakeNow = 1_000_000;
contract("in-process", async () => ({
  live: memoryLiveState(() => fakeNow),
  advance: async (ms) => {
    fakeNow += ms;
  },
}));

const redisUrl = process.env.TEST_REDIS_URL;
contract("redis", async () => ({ live: await redisLiveState(redisUrl!, `test:${newId()}:`), advance: (ms) => sleep(ms) }), Boolean(redisUrl));
