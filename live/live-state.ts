/**
 * Live state: short-lived, reconstructable coordination data (presence keys
 * with a TTL, counters for rate limits, pub/sub wake-ups). Never durable
 * topology, identity, policy or organization data: PostgreSQL owns those.
 * Two implementations keep this contract: Redis (ioredis) and in-process.
 */
export type Unsubscribe = () => Promise<void>;

export interface LiveState {
  readonly kind: "redis" | "memory";
  /** Sets `key` to `value`, expiring after `ttlMs`. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets many keys with one TTL in one round trip (presence keys written by a batch). */
  setMany(entries: [string, string][], ttlMs: number): Promise<void>;
  /** Sets only when absent; true when this call set it (a lease or lock). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  get(key: string): Promise<string | null>;
  del(key: string): Promise<void>;
  /** Adds `by` and returns the new value; starts the TTL window when the key is new. */
  incr(key: string, by: number, ttlMs: number): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
