/**
 * Fingerprints of the keys every replica must share (token key, secret
 * master keys, data-plane token key), stored in the database so a replica
 * started with another key refuses to start instead of answering 401 and
 * `secret.undecryptable`. SHA-256 over a domain-separated string, so the
 * value is not a plain hash of the key that could match one used elsewhere,
 * truncated to 64 bits: enough to tell keys apart, and nothing of the key can
 * be learnt from it (the keys are 256 random bits).
 */
import { toHex } from "../ids.ts";
import { sha256 } from "./bytes.ts";

const DOMAIN = "rap shared key fingerprint v1";

/** `purpose` names the key's use, so one key used for two purposes gives two unrelated fingerprints. */
export async function sharedKeyFingerprint(purpose: string, key: Uint8Array): Promise<string> {
  const label = new TextEncoder().encode(`${DOMAIN}\0${purpose}\0`);
  const input = new Uint8Array(label.length + key.length);
  input.set(label);
  input.set(key, label.length);
  return toHex(await sha256(input)).slice(0, 16);
}
