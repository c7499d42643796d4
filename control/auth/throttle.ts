/**
 * Sign-in throttling that slows a password guesser without locking anyone
 * out. Failures are counted per (account, source), per source and per
 * account in live state (a source is an IPv4 address or an IPv6 /64); each count asks for a wait that doubles with every
 * failure past a free allowance, up to 15 minutes:
 *
 * - (account, source): 5 free failures, then 1 s, 2 s, 4 s, ... The owner
 *   signing in from elsewhere is never held by an attacker's failures.
 * - source: 20 free failures (a source trying many accounts), and at most
 *   100 attempts per window whatever their outcome (a cap on bursts).
 * - account: past 20 failures from all sources together the account is
 *   under attack: every (account, source) pair that has failed waits the
 *   account's delay too, and a TOTP-enrolled account then needs its code on
 *   every sign-in (a trusted device no longer skips it). A source that has
 *   not failed is never held for the account's sake.
 *
 * A held attempt is answered 429 with `retry_after_seconds` before any
 * password is checked, unless it brings a TOTP code: then a correct password
 * and code still sign in (see auth/service.ts). Those code-bearing held
 * attempts have a budget of their own, spent before anything is checked (5
 * per account and source, 20 per source, per window), and the per-source
 * cap on all attempts is never lifted, so a stolen password cannot be
 * paired with an unlimited stream of guessed codes. Keys hash the email, and
 * unknown emails are counted exactly like accounts, so nothing here tells
 * the two apart. Times come from the app clock: a count ends 15 minutes
 * after its last failure. The live-state TTL (a day, since live state cannot
 * extend a counter's TTL) only collects old keys.
 */
import type { LiveState } from "../../live/live-state.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";

export const THROTTLE = {
  windowMs: 15 * 60_000,
  maxDelayMs: 15 * 60_000,
  freeFailuresPerAccountAndSource: 5,
  freeFailuresPerSource: 20,
  accountUnderAttackAfter: 20,
  maxAttemptsPerSource: 100,
  heldWithCodePerAccountAndSource: 5,
  heldWithCodePerSource: 20,
  keyTtlMs: 24 * 3600_000,
} as const;

/** The wait after `failures` failures of which `free` cost nothing: 1 s, 2 s, 4 s, ... up to the cap. */
export function delayAfter(failures: number, free: number): number {
  if (failures <= free) return 0;
  return Math.min(THROTTLE.maxDelayMs, 1000 * 2 ** Math.min(30, failures - free - 1));
}

export interface Gate {
  /** Milliseconds until this attempt may be checked; 0 means now. */
  retryAfterMs: number;
  /** The account has failed often from many sources: a TOTP account then needs its code every time. */
  underAttack: boolean;
  /** The source passed its cap on all attempts: nothing from it is checked, code or not. */
  sourceCapped: boolean;
}

interface Count {
  n: number;
  last: number;
}

export class LoginThrottle {
  constructor(
    private readonly live: LiveState,
    private readonly clock: () => Date,
  ) {}

  /** Whether this attempt may be checked now. Counts the attempt against the source's cap. */
  async gate(email: string, ip: string): Promise<Gate> {
    const now = this.clock().getTime();
    const k = await keys(email, ip);
    const [attempts, pair, source, account] = await Promise.all([
      this.live.incr(`${k.source}:attempts`, 1, THROTTLE.windowMs),
      this.read(k.pair, now),
      this.read(k.source, now),
      this.read(k.account, now),
    ]);
    const underAttack = account.n >= THROTTLE.accountUnderAttackAfter;
    const waits = [
      pair.last + delayAfter(pair.n, THROTTLE.freeFailuresPerAccountAndSource) - now,
      source.last + delayAfter(source.n, THROTTLE.freeFailuresPerSource) - now,
      // The account's delay holds only sources that have failed for it: a fresh source always gets its try.
      pair.n > 0 ? account.last + delayAfter(account.n, THROTTLE.accountUnderAttackAfter) - now : 0,
      attempts > THROTTLE.maxAttemptsPerSource ? THROTTLE.windowMs : 0,
    ];
    return { retryAfterMs: Math.max(0, ...waits), underAttack, sourceCapped: attempts > THROTTLE.maxAttemptsPerSource };
  }

  /**
   * Spends one of the held-with-a-code budget, before the password or code is
   * checked; false when the budget of this account and source, or of this
   * source, is spent (the attempt is then refused like any held one).
   */
  async spendHeldWithCode(email: string, ip: string): Promise<boolean> {
    const k = await keys(email, ip);
    const [pair, source] = await Promise.all([
      this.live.incr(`${k.pair}:held`, 1, THROTTLE.windowMs),
      this.live.incr(`${k.source}:held`, 1, THROTTLE.windowMs),
    ]);
    return pair <= THROTTLE.heldWithCodePerAccountAndSource && source <= THROTTLE.heldWithCodePerSource;
  }

  async failed(email: string, ip: string): Promise<void> {
    const now = this.clock().getTime();
    const k = await keys(email, ip);
    await Promise.all([k.pair, k.source, k.account].map((key) => this.bump(key, now)));
  }

  /** The account signed in from this source: that pair starts afresh (the source's and account's counts stay). */
  async succeeded(email: string, ip: string): Promise<void> {
    const k = await keys(email, ip);
    await Promise.all([this.live.del(`${k.pair}:n`), this.live.del(`${k.pair}:last`)]);
  }

  /** Forgets the account's own count (a recovery admin's unlock); per-source counts stay. */
  async clearAccount(email: string): Promise<void> {
    const k = await keys(email, "");
    await Promise.all([this.live.del(`${k.account}:n`), this.live.del(`${k.account}:last`)]);
  }

  private async read(key: string, now: number): Promise<Count> {
    const [n, last] = await Promise.all([this.live.get(`${key}:n`), this.live.get(`${key}:last`)]);
    const c = { n: Number(n ?? 0), last: Number(last ?? 0) };
    // A count whose last failure is older than the window is over, whatever the key's TTL says.
    return now - c.last > THROTTLE.windowMs ? { n: 0, last: 0 } : c;
  }

  private async bump(key: string, now: number): Promise<void> {
    const last = Number((await this.live.get(`${key}:last`)) ?? 0);
    if (now - last > THROTTLE.windowMs) await this.live.del(`${key}:n`);
    await this.live.incr(`${key}:n`, 1, THROTTLE.keyTtlMs);
    await this.live.set(`${key}:last`, String(now), THROTTLE.keyTtlMs);
  }
}

async function keys(email: string, ip: string) {
  const account = await sha256Hex(email.toLowerCase());
  const source = sourceOf(ip);
  return { pair: `auth:login:pair:${account}:${source}`, source: `auth:login:src:${source}`, account: `auth:login:acct:${account}` };
}

/**
 * The source an attempt is counted against: an IPv4 address as it is, an
 * IPv6 address by its /64 (one host or site holds a whole /64, so rotating
 * addresses inside it must not make a fresh source each time).
 */
export function sourceOf(ip: string): string {
  if (!ip.includes(":")) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const [head, tail = ""] = ip.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = ip.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}
