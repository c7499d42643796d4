/** sharedKeyFingerprint: stable, short, separated by purpose, not the plain SHA-256 of the key. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { sharedKeyFingerprint } from "./shared-key-fingerprint.ts";
import { toHex } from "../ids.ts";

describe("sharedKeyFingerprint", () => {
  const key = new Uint8Array(32).fill(7);

  test("the same key and purpose give the same 16 hex digits; another key another value", async () => {
    const a = await sharedKeyFingerprint("auth_token", key);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(await sharedKeyFingerprint("auth_token", new Uint8Array(key))).toBe(a);
    expect(await sharedKeyFingerprint("auth_token", new Uint8Array(32).fill(8))).not.toBe(a);
  });

  test("the purpose separates domains, and the value is not a prefix of the key's plain SHA-256", async () => {
    expect(await sharedKeyFingerprint("secret_encryption", key)).not.toBe(await sharedKeyFingerprint("auth_token", key));
    const plain = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", key)));
    expect(plain.startsWith(await sharedKeyFingerprint("auth_token", key))).toBe(false);
  });
});
