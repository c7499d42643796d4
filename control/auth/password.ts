/**
 * Password hashing with argon2id (Bun's built-in, OWASP parameters: 19 MiB,
 * 2 passes). An unknown account is still checked against a dummy hash so a
 * failed login takes the same time whether or not the email exists.
 */
const PARAMS = { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 } as const;

let dummy: Promise<string> | undefined;

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, PARAMS);
}

export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  if (!hash) {
    dummy ??= hashPassword("not-a-real-password-used-for-timing-only");
    await Bun.password.verify(password, await dummy);
    return false;
  }
  return Bun.password.verify(password, hash);
}
