/**
 * LiveState over Redis with ioredis. Commands go over one connection;
 * subscriptions over a second (a subscribed Redis connection can do nothing
 * else), opened on first subscribe. Keys are prefixed so several installations
 * can share one Redis.
 *
 * Opening waits for a first PING and rejects with the connection's own error
 * (ECONNREFUSED, ENOTFOUND, WRONGPASS…), not ioredis's "Connection is
 * closed."; afterwards a lost connection is reported once to `onConnection`
 * (and once when it is back) while ioredis reconnects, never as an unhandled
 * error event.
 */
import { Redis } from "ioredis";
import type { LiveState, Unsubscribe } from "./live-state.ts";

const OPEN_TIMEOUT_MS = 15_000;

export interface RedisConnectionEvents {
  onConnection?(state: "lost" | "restored", err?: Error): void;
}

/** A connection whose errors go to `onConnection` once per outage; `lastError` is the latest. */
function connection(url: string, events: RedisConnectionEvents) {
  const conn = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  const state = { lastError: undefined as Error | undefined, open: false, lost: false };
  conn.on("error", (err: Error) => {
    state.lastError = err;
    if (state.open && !state.lost) {
      state.lost = true;
      events.onConnection?.("lost", err);
    }
  });
  conn.on("ready", () => {
    if (state.lost) events.onConnection?.("restored");
    state.lost = false;
  });
  const open = async () => {
    let timer: Timer | undefined;
    // A server that accepts but never answers (another service on that port) must not hold start-up forever.
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer to PING within ${OPEN_TIMEOUT_MS / 1000} s`), { code: "ETIMEDOUT" })),
        OPEN_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([conn.connect().then(() => conn.ping()), silent]);
      state.open = true;
    } catch (err) {
      conn.disconnect();
      throw (err as { code?: string }).code === "ETIMEDOUT" ? err : (state.lastError ?? err);
    } finally {
      clearTimeout(timer);
    }
  };
  return { conn, open };
}

export async function redisLiveState(url: string, prefix = "rap:", events: RedisConnectionEvents = {}): Promise<LiveState> {
  const first = connection(url, events);
  await first.open();
  const cmd = first.conn;
  let sub: Redis | undefined;
  const handlers = new Map<string, Set<(m: string) => void>>();
  const k = (key: string) => prefix + key;

  const subscriber = async (): Promise<Redis> => {
    if (sub) return sub;
    const { conn, open } = connection(url, events);
    await open();
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
