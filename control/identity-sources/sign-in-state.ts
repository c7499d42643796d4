/**
 * The short-lived, single-use state of a single sign-on, in live state
 * (reconstructable: losing it only means "start again"). Keys are hashes of
 * the random values, so a dump of live state holds nothing usable.
 *
 * - the OIDC attempt (state → source, PKCE verifier, nonce, where to return,
 *   the browser's binding hash), spent by the callback;
 * - the sign-in grant the callback hands the browser in the URL fragment,
 *   redeemed once for tokens by the browser that started the attempt (it
 *   proves that with the binding value whose hash it sent at the start).
 */
import { b64url, randomBytes, sha256Hex } from "../../core/crypto/bytes.ts";
import type { LiveState } from "../../live/live-state.ts";

export const ATTEMPT_TTL_MS = 10 * 60_000;
export const GRANT_TTL_MS = 2 * 60_000;

export interface OidcAttempt {
  sourceId: string;
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  bindingHash: string;
}

export interface SignInGrant {
  userId: string;
  sourceId: string;
  bindingHash: string;
  /** The provider proved a second factor the source accepts. */
  providerMfa: boolean;
}

const attemptKey = async (state: string) => `sso:attempt:${await sha256Hex(state)}`;
const grantKey = async (grant: string) => `sso:grant:${await sha256Hex(grant)}`;

export const randomValue = () => b64url(randomBytes(32));

export async function saveAttempt(live: LiveState, state: string, a: OidcAttempt): Promise<void> {
  await live.set(await attemptKey(state), JSON.stringify(a), ATTEMPT_TTL_MS);
}

/** The attempt, once: a second callback with the same state finds nothing. */
export async function takeAttempt(live: LiveState, state: string): Promise<OidcAttempt | null> {
  const key = await attemptKey(state);
  const raw = await live.get(key);
  if (!raw || !(await live.setIfAbsent(`${key}:spent`, "1", ATTEMPT_TTL_MS))) return null;
  await live.del(key);
  return JSON.parse(raw) as OidcAttempt;
}

export async function saveGrant(live: LiveState, g: SignInGrant): Promise<string> {
  const grant = randomValue();
  await live.set(await grantKey(grant), JSON.stringify(g), GRANT_TTL_MS);
  return grant;
}

export async function peekGrant(live: LiveState, grant: string): Promise<SignInGrant | null> {
  const raw = await live.get(await grantKey(grant));
  return raw ? (JSON.parse(raw) as SignInGrant) : null;
}

/** Spends the grant; false when another redemption spent it first. */
export async function spendGrant(live: LiveState, grant: string): Promise<boolean> {
  const key = await grantKey(grant);
  if (!(await live.setIfAbsent(`${key}:spent`, "1", GRANT_TTL_MS))) return false;
  await live.del(key);
  return true;
}
