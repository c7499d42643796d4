/**
 * Time and randomness for the agent, passed in rather than read from the
 * globals (docs: ../shared/CONVENTIONS.md §2): `main.ts` gives every part
 * `systemClock` and `systemRandom`; tests give a `ManualClock`
 * (fixtures/clock.ts) and move time forward instead of sleeping. Real
 * network waits (fetch timeouts, QUIC) and RTT measurement
 * (`performance.now()`) stay on real time: they measure the world, not a
 * schedule.
 */
import { sleep } from "../core/runtime/index.ts";

/** Opaque: what `setTimeout` returns and `clearTimeout` takes. */
export type Timer = unknown;

export interface Clock {
  now(): Date;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
  sleep(ms: number): Promise<void>;
}

/** Uniform in [0, 1): jitter for backoff and renewal times. */
export type Random = () => number;

export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  sleep,
};

export const systemRandom: Random = Math.random;

/** Calls `fn` every `ms` on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let timer: Timer;
  let on = true;
  const arm = () => {
    timer = clock.setTimeout(() => {
      if (!on) return;
      arm();
      fn();
    }, ms);
  };
  arm();
  return () => {
    on = false;
    clock.clearTimeout(timer);
  };
}
