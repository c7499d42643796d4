import { sha256Hex } from "./bytes.ts";

const DOMAIN = "rap shared key fingerprint v1";

/** `purpose` names the key's use, so one key used for two purposes gives two unrelated fingerprints. */
export async function sharedKeyFingerprint(purpose: string, key: Uint8Array): Promise<string> {
  const label = new TextEncoder().encode(`${DOMAIN}\0${purpose}\0`);
  const input = new Uint8Array(label.length + key.length);
  input.set(label);
  input.set(key, label.length);
  return (await sha256Hex(input)).slice(0, 16);
}
