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
  /** Sets many fields of one hash in one command (presence written by a batch: field = id, value = when). */
  hset(key: string, entries: [string, string][]): Promise<void>;
  hget(key: string, field: string): Promise<string | null>;
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
