import { describe, expect, test } from "../../fixtures/test.ts";
import { createKeyring, SecretKeyUnknown, SecretUndecryptable } from "./envelope.ts";
import { randomBytes } from "./bytes.ts";

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const text = (s: string) => new TextEncoder().encode(s);

describe("envelope encryption", () => {
  test("seal then open returns the plaintext; the ciphertext does not contain it", async () => {
    const ring = await createKeyring("k1", new Map([["k1", k1]]));
    const sealed = await ring.seal(text("hunter2-password"), "resource:r1");
    expect(sealed.keyId).toBe("k1");
    expect(Buffer.from(sealed.ciphertext, "base64").toString("latin1")).not.toContain("hunter2");
    expect(new TextDecoder().decode(await ring.open(sealed, "resource:r1"))).toBe("hunter2-password");
  });

  test("a sealed value moved to another owner does not open", async () => {
    const ring = await createKeyring("k1", new Map([["k1", k1]]));
    const sealed = await ring.seal(text("x"), "resource:r1");
    expect(await ring.open(sealed, "resource:r2").catch((e) => e)).toBeInstanceOf(SecretUndecryptable);
  });

  test("rotation re-wraps under the new key, keeps the ciphertext, and the old key is no longer needed", async () => {
    const old = await createKeyring("k1", new Map([["k1", k1]]));
    const sealed = await old.seal(text("secret"), "a");
    const both = await createKeyring(
      "k2",
      new Map([
        ["k1", k1],
        ["k2", k2],
      ]),
    );
    const rewrapped = await both.rewrap(sealed, "a");
    expect(rewrapped.keyId).toBe("k2");
    expect(rewrapped.ciphertext).toBe(sealed.ciphertext);
    const onlyNew = await createKeyring("k2", new Map([["k2", k2]]));
    expect(new TextDecoder().decode(await onlyNew.open(rewrapped, "a"))).toBe("secret");
    expect(await onlyNew.open(sealed, "a").catch((e) => e)).toBeInstanceOf(SecretKeyUnknown);
  });

  test("keys must be 32 bytes and the active one present", async () => {
    await expect(createKeyring("k1", new Map([["k1", randomBytes(16)]]))).rejects.toThrow(/32 bytes/);
    await expect(createKeyring("k9", new Map([["k1", k1]]))).rejects.toThrow(/not in the keyring/);
  });
});
