/**
 * LiveState over Redis with ioredis. Commands go over one connection;
 * subscriptions over a second (a subscribed Redis connection can do nothing
 * else), opened on first subscribe. Keys are prefixed so several installations
 * can share one Redis.
 */
import { Redis } from "ioredis";
import type { LiveState, Unsubscribe } from "./live-state.ts";

export async function redisLiveState(url: string, prefix = "rap:"): Promise<LiveState> {
  const opts = { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true };
  const cmd = new Redis(url, opts);
  await cmd.connect();
  let sub: Redis | undefined;
  const handlers = new Map<string, Set<(m: string) => void>>();
  const k = (key: string) => prefix + key;

  const subscriber = async (): Promise<Redis> => {
    if (sub) return sub;
    const conn = new Redis(url, opts);
    await conn.connect();
    conn.on("message", (channel: string, message: string) => {
      for (const fn of handlers.get(channel) ?? []) fn(message);
    });
    sub = conn;
    return conn;
  };

  return {
    kind: "redis",
    async set(key, value, ttlMs) {
      await cmd.set(k(key), value, "PX", ttlMs);
    },
    async hset(key, entries) {
      if (entries.length === 0) return;
      await cmd.hset(k(key), Object.fromEntries(entries));
    },
    hget: (key, field) => cmd.hget(k(key), field),
    async setIfAbsent(key, value, ttlMs) {
      return (await cmd.set(k(key), value, "PX", ttlMs, "NX")) === "OK";
    },
    get: (key) => cmd.get(k(key)),
    async del(key) {
      await cmd.del(k(key));
    },
    async incr(key, by, ttlMs) {
      // One round trip; the TTL is set only when the increment created the key.
      const [[, value] = []] = (await cmd.multi().incrby(k(key), by).pexpire(k(key), ttlMs, "NX").exec()) ?? [];
      return Number(value);
    },
    async publish(channel, message) {
      await cmd.publish(k(channel), message);
    },
    async subscribe(channel, onMessage): Promise<Unsubscribe> {
      const conn = await subscriber();
      const name = k(channel);
      const set = handlers.get(name) ?? new Set();
      if (set.size === 0) await conn.subscribe(name);
      set.add(onMessage);
      handlers.set(name, set);
      return async () => {
        set.delete(onMessage);
        if (set.size === 0) {
          handlers.delete(name);
          await conn.unsubscribe(name);
        }
      };
    },
    async ping() {
      await cmd.ping();
    },
    async close() {
      await Promise.all([cmd.quit(), sub?.quit()]);
    },
  };
}
