import { describe, expect, test } from "../../fixtures/test.ts";
import { base32 } from "./bytes.ts";
import { totpAt, totpStep, verifyTotp } from "./totp.ts";

// RFC 6238 appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
const SEED = base32(new TextEncoder().encode("12345678901234567890"));
const VECTORS: [number, string][] = [
  [59, "287082"],
  [1111111109, "081804"],
  [1111111111, "050471"],
  [1234567890, "005924"],
  [2000000000, "279037"],
];

describe("totp", () => {
  test("matches the RFC 6238 test vectors", async () => {
    for (const [t, code] of VECTORS) expect(await totpAt(SEED, totpStep(new Date(t * 1000)))).toBe(code);
  });

  test("accepts one step of skew either way and returns the matched step", async () => {
    const now = new Date(1234567890 * 1000);
    const step = totpStep(now);
    expect(await verifyTotp(SEED, await totpAt(SEED, step - 1), now)).toBe(step - 1);
    expect(await verifyTotp(SEED, await totpAt(SEED, step + 1), now)).toBe(step + 1);
    expect(await verifyTotp(SEED, await totpAt(SEED, step + 2), now)).toBeNull();
  });

  test("rejects malformed codes", async () => {
    const now = new Date(59 * 1000);
    for (const bad of ["", "28708", "2870822", "28708a", " 287082"]) expect(await verifyTotp(SEED, bad, now)).toBeNull();
  });
});
