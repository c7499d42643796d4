/**
 * In-process LiveState: the embedded default when REDIS_URL is unset. Good
 * for one replica; two replicas need Redis to see each other. Expiry is lazy
 * (checked on read) against an injectable clock, so tests move time instead of
 * sleeping.
 */
import type { LiveState, Unsubscribe } from "./live-state.ts";

interface Entry {
  value: string;
  expiresAt: number;
}

export function memoryLiveState(clock: () => number = Date.now): LiveState {
  const entries = new Map<string, Entry>();
  const channels = new Map<string, Set<(m: string) => void>>();
  const hashes = new Map<string, Map<string, string>>();

  const live = (key: string): Entry | undefined => {
    const e = entries.get(key);
    if (e && e.expiresAt <= clock()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };

  return {
    kind: "memory",
    async set(key, value, ttlMs) {
      entries.set(key, { value, expiresAt: clock() + ttlMs });
    },
    async hset(key, list) {
      const h = hashes.get(key) ?? new Map<string, string>();
      for (const [field, value] of list) h.set(field, value);
      hashes.set(key, h);
    },
    async hget(key, field) {
      return hashes.get(key)?.get(field) ?? null;
    },
    async setIfAbsent(key, value, ttlMs) {
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: clock() + ttlMs });
      return true;
    },
    async get(key) {
      return live(key)?.value ?? null;
    },
    async del(key) {
      entries.delete(key);
    },
    async incr(key, by, ttlMs) {
      const e = live(key);
      const next = (e ? Number(e.value) : 0) + by;
      entries.set(key, { value: String(next), expiresAt: e ? e.expiresAt : clock() + ttlMs });
      return next;
    },
    async publish(channel, message) {
      // Delivered on a later tick, as over a socket: a publisher never runs subscribers inline.
      for (const fn of channels.get(channel) ?? []) queueMicrotask(() => fn(message));
    },
    async subscribe(channel, onMessage): Promise<Unsubscribe> {
      const set = channels.get(channel) ?? new Set();
      set.add(onMessage);
      channels.set(channel, set);
      return async () => {
        set.delete(onMessage);
      };
    },
    async ping() {},
    async close() {
      entries.clear();
      channels.clear();
      hashes.clear();
    },
  };
}
