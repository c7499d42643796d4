/**
 * Envelope encryption for secrets at rest (AES-256-GCM). Each secret gets its
 * own random data key; the data key is wrapped by a master key named by a key
 * id. Rotating the master key re-wraps data keys without touching plaintext
 * storage. The associated data binds a ciphertext to its owner (e.g.
 * `resource:<id>`), so a sealed value copied onto another row will not open.
 */
import { b64, fromB64, randomBytes, type Bytes } from "./bytes.ts";
import { DomainError } from "../errors.ts";

export interface Sealed {
  keyId: string;
  /** base64: 12-byte nonce + wrapped 32-byte data key + tag */
  wrappedKey: string;
  /** base64: 12-byte nonce + ciphertext + tag */
  ciphertext: string;
}

export class SecretKeyUnknown extends DomainError {
  constructor(keyId: string) {
    super("secret.key_unknown", `no master key with id ${keyId} is configured`, { key_id: keyId });
  }
}

export class SecretUndecryptable extends DomainError {
  constructor() {
    super("secret.undecryptable", "the secret could not be decrypted with the configured key");
  }
}

export interface Keyring {
  activeId: string;
  has(keyId: string): boolean;
  seal(plaintext: Uint8Array, aad: string): Promise<Sealed>;
  open(sealed: Sealed, aad: string): Promise<Bytes>;
  /** Re-wraps the data key under the active master key; plaintext never leaves this function. */
  rewrap(sealed: Sealed, aad: string): Promise<Sealed>;
}

/** `keys`: key id → 32 raw bytes. The active key must be among them. */
export async function createKeyring(activeId: string, keys: Map<string, Uint8Array>): Promise<Keyring> {
  const masters = new Map<string, CryptoKey>();
  for (const [id, raw] of keys) {
    if (raw.length !== 32) throw new Error(`master key ${id} must be 32 bytes, got ${raw.length}`);
    masters.set(id, await crypto.subtle.importKey("raw", new Uint8Array(raw), "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  if (!masters.has(activeId)) throw new Error(`active master key ${activeId} is not in the keyring`);

  const enc = async (key: CryptoKey, data: Bytes, aad: string) => {
    const nonce = randomBytes(12);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: new TextEncoder().encode(aad) }, key, data));
    const out = new Uint8Array(12 + ct.length);
    out.set(nonce);
    out.set(ct, 12);
    return b64(out);
  };
  const dec = async (key: CryptoKey, blob: string, aad: string): Promise<Bytes> => {
    const bytes = fromB64(blob);
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: new TextEncoder().encode(aad) }, key, bytes.subarray(12)),
      );
    } catch {
      throw new SecretUndecryptable();
    }
  };
  const master = (id: string) => {
    const k = masters.get(id);
    if (!k) throw new SecretKeyUnknown(id);
    return k;
  };
  const unwrap = async (sealed: Sealed, aad: string) =>
    crypto.subtle.importKey("raw", await dec(master(sealed.keyId), sealed.wrappedKey, `dek|${aad}`), "AES-GCM", false, ["encrypt", "decrypt"]);

  return {
    activeId,
    has: (id) => masters.has(id),
    async seal(plaintext, aad) {
      const dekRaw = randomBytes(32);
      const dek = await crypto.subtle.importKey("raw", dekRaw, "AES-GCM", false, ["encrypt"]);
      const sealed = {
        keyId: activeId,
        wrappedKey: await enc(master(activeId), dekRaw, `dek|${aad}`),
        ciphertext: await enc(dek, new Uint8Array(plaintext), aad),
      };
      dekRaw.fill(0);
      return sealed;
    },
    async open(sealed, aad) {
      return dec(await unwrap(sealed, aad), sealed.ciphertext, aad);
    },
    async rewrap(sealed, aad) {
      if (sealed.keyId === activeId) return sealed;
      const dekRaw = await dec(master(sealed.keyId), sealed.wrappedKey, `dek|${aad}`);
      const rewrapped = { keyId: activeId, wrappedKey: await enc(master(activeId), dekRaw, `dek|${aad}`), ciphertext: sealed.ciphertext };
      dekRaw.fill(0);
      return rewrapped;
    },
  };
}
