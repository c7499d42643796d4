/**
 * Password hashing with argon2id (`@node-rs/argon2`, a napi addon that loads
 * on Bun and Deno; OWASP parameters: 19 MiB, 2 passes, one lane). Its PHC
 * strings are the same format Bun's password API wrote, so hashes stored before
 * the move verify unchanged (control/auth/password-compat.test.ts).
 * An unknown account is still checked against a dummy hash so a failed
 * login takes the same time whether or not the email exists; so does an
 * account that signs in only through an identity source (`NO_PASSWORD`).
 */
import { hash, verify } from "@node-rs/argon2";

/** `Algorithm.Argon2id` (a const enum the package declares; isolated modules cannot import it). */
const ARGON2ID = 2;
const PARAMS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

let dummy: Promise<string> | undefined;

/** The password hash of an account that signs in only through an identity source: no password matches it. */
export const NO_PASSWORD = "!identity-source-only";

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  // An account without a password (NO_PASSWORD) costs the same work as an unknown one and never matches.
  if (!stored?.startsWith("$")) {
    dummy ??= hashPassword("not-a-real-password-used-for-timing-only");
    await verify(await dummy, password);
    return false;
  }
  // A stored value that is not a PHC string this library reads is no match, not a crash.
  return verify(stored, password).catch(() => false);
}
