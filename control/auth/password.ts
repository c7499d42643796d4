/**
 * Password hashing with argon2id (Bun's built-in, OWASP parameters: 19 MiB,
 * 2 passes). An unknown account is still checked against a dummy hash so a
 * failed login takes the same time whether or not the email exists; so does
 * an account that signs in only through an identity source (`NO_PASSWORD`).
 */
const PARAMS = { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 } as const;

let dummy: Promise<string> | undefined;

/** The password hash of an account that signs in only through an identity source: no password matches it. */
export const NO_PASSWORD = "!identity-source-only";

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, PARAMS);
}

export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  // An account without a password (NO_PASSWORD) costs the same work as an unknown one and never matches.
  if (!hash?.startsWith("$")) {
    dummy ??= hashPassword("not-a-real-password-used-for-timing-only");
    await Bun.password.verify(password, await dummy);
    return false;
  }
  return Bun.password.verify(password, hash);
}
