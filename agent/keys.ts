/**
 * The node's key pair for one cluster: ECDSA P-256 made on this host, the
 * private half in a 0600 file under the state directory, never sent
 * anywhere. One key per cluster: memberships never share keys.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { b64, fromB64 } from "../core/crypto/bytes.ts";
import { EC_ALG, fingerprintOf } from "../core/crypto/x509.ts";

export interface NodeKey {
  privateKey: CryptoKey;
  publicKey: string;
  fingerprint: string;
  keyFile: string;
}

export const keyPath = (stateDir: string, clusterId: string) => join(stateDir, "keys", `${clusterId}.key`);

export async function loadOrCreateKey(stateDir: string, clusterId: string): Promise<NodeKey> {
  const file = keyPath(stateDir, clusterId);
  const existing = await readFile(file, "utf8").catch(() => "");
  if (existing) {
    const mode = (await stat(file)).mode & 0o777;
    if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); fix: chmod 600 ${file}`);
    return fromPkcs8(existing.trim(), file);
  }
  await mkdir(join(stateDir, "keys"), { recursive: true, mode: 0o700 });
  await chmod(join(stateDir, "keys"), 0o700);
  const kp = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const pkcs8 = b64(new Uint8Array(await crypto.subtle.exportKey("pkcs8", kp.privateKey)));
  await writeFile(file, `${pkcs8}\n`, { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  return fromPkcs8(pkcs8, file);
}

/** The enrolled key's PKCS#8 bytes, for the mesh's TLS identity (stays in this process). */
export async function readKeyPkcs8(stateDir: string, clusterId: string): Promise<Uint8Array> {
  const key = await loadOrCreateKey(stateDir, clusterId); // checks the file's mode
  return fromB64((await readFile(key.keyFile, "utf8")).trim());
}

async function fromPkcs8(pkcs8: string, file: string): Promise<NodeKey> {
  const extractable = await crypto.subtle.importKey("pkcs8", fromB64(pkcs8), EC_ALG, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  delete jwk.d;
  const pub = await crypto.subtle.importKey("jwk", { ...jwk, key_ops: ["verify"] }, EC_ALG, true, ["verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pub));
  const privateKey = await crypto.subtle.importKey("pkcs8", fromB64(pkcs8), EC_ALG, false, ["sign"]);
  return { privateKey, publicKey: b64(spki), fingerprint: await fingerprintOf(spki), keyFile: file };
}

export async function certificateRequest(key: NodeKey, nodeName: string): Promise<string> {
  const publicKey = await crypto.subtle.importKey("spki", fromB64(key.publicKey), EC_ALG, true, ["verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${nodeName}`,
    keys: { privateKey: key.privateKey, publicKey },
    signingAlgorithm: EC_ALG,
  });
  return csr.toString("pem");
}
