/**
 * The identity settings a replica runs with, keys resolved: installation
 * authority mode and Product Root public key, the secrets keyring, the access
 * token key and token lifetimes, and the fingerprints of the keys every
 * replica must share. Outside production, a missing secret or token key is
 * generated once into DATA_DIR (mode 0600) and reused; production
 * configuration refuses to start without them (control/config.ts).
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config, KeySource } from "./config.ts";
import type { Logger } from "../core/log.ts";
import { b64, fromB64, fromB64url, randomBytes, type Bytes } from "../core/crypto/bytes.ts";
import { createKeyring, type Keyring } from "../core/crypto/envelope.ts";
import { importPublicKey, keyFingerprint } from "../core/crypto/product-root.ts";
import { sharedKeyFingerprint } from "../core/crypto/shared-key-fingerprint.ts";
import { ConfigInvalid } from "./config.ts";

export interface Identity {
  mode: "strict" | "dev";
  /** `publicKeyB64`: the raw key, for version storage to compare with the root of a release repository. */
  productRoot: { key: CryptoKey; fingerprint: string; publicKeyB64: string } | null;
  insecureBootstrap: boolean;
  production: boolean;
  keyring: Keyring;
  tokenKey: Bytes;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Signs data-plane tokens; entry nodes receive `publicKeyB64` in their snapshots. */
  dataPlaneKey: { kid: string; publicKeyB64: string; privateKey: CryptoKey };
  /** Lifetime of data-plane tokens; entry nodes get it as `max_token_ttl_seconds`. */
  dataPlaneTokenTtlSeconds: number;
  /** Of the keys every replica must share; control/installation/keys.ts compares them with the installation's at start. */
  fingerprints: KeyFingerprints;
}

/** sharedKeyFingerprint of each shared key; the keys themselves stay here. */
export interface KeyFingerprints {
  authToken: string;
  /** Of the public half: the same private key always has the same one. */
  dataPlaneToken: string;
  /** Secret master keys by id, the active one included. */
  secrets: { activeId: string; byId: Map<string, string> };
}

export async function fingerprintKeys(k: {
  tokenKey: Uint8Array;
  dataPlanePublicKeyB64: string;
  secretActiveId: string;
  secretKeys: Map<string, Uint8Array>;
}): Promise<KeyFingerprints> {
  const byId = new Map<string, string>();
  for (const [id, key] of k.secretKeys) byId.set(id, await sharedKeyFingerprint("secret_encryption", key));
  return {
    authToken: await sharedKeyFingerprint("auth_token", k.tokenKey),
    dataPlaneToken: await sharedKeyFingerprint("data_plane_token", fromB64(k.dataPlanePublicKeyB64)),
    secrets: { activeId: k.secretActiveId, byId },
  };
}

export async function loadIdentity(cfg: Config, log: Logger): Promise<Identity> {
  const rootB64 = await readKey(cfg.authority.productRootKey, "INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY");
  const productRoot = rootB64
    ? {
        key: await importPublicKey(rootB64).catch(bad("INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY")),
        fingerprint: await keyFingerprint(rootB64),
        publicKeyB64: rootB64.trim(),
      }
    : null;
  const secretKey = (await readKey(cfg.secrets.activeKey, "SECRET_ENCRYPTION_KEY")) ?? (await devKey(cfg, "secret-key", log));
  const keys = new Map<string, Uint8Array>([[cfg.secrets.activeKeyId, decode32(secretKey, "SECRET_ENCRYPTION_KEY")]]);
  for (const entry of (cfg.secrets.previousKeys ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [id, key] = entry.split(":");
    if (!id || !key) throw new ConfigInvalid(["SECRET_ENCRYPTION_PREVIOUS_KEYS: expected id:base64[,id:base64]"]);
    // The same id for two keys would make sealed values ambiguous; the later one used to win silently.
    if (keys.has(id)) throw new ConfigInvalid([`SECRET_ENCRYPTION_PREVIOUS_KEYS: key id ${id} is given twice (or is SECRET_ENCRYPTION_KEY_ID)`]);
    keys.set(id, decode32(key, `SECRET_ENCRYPTION_PREVIOUS_KEYS (${id})`));
  }
  const tokenKey = decode32((await readKey(cfg.auth.tokenKey, "AUTH_TOKEN_KEY")) ?? (await devKey(cfg, "token-key", log)), "AUTH_TOKEN_KEY");
  const dataPlaneKey = await loadDataPlaneKey(
    (await readKey(cfg.dataPlaneTokenKey, "DATA_PLANE_TOKEN_KEY")) ?? (await devKey(cfg, "data-plane-key", log, newEd25519Pkcs8)),
  );
  if (cfg.authority.mode === "dev" && cfg.authority.insecureBootstrap) {
    log.warn("insecure first-owner bootstrap is enabled (INSTALLATION_INSECURE_BOOTSTRAP_ENABLED=true); use only for development");
  }
  return {
    mode: cfg.authority.mode,
    productRoot,
    insecureBootstrap: cfg.authority.insecureBootstrap,
    production: cfg.appEnv === "production",
    keyring: await createKeyring(cfg.secrets.activeKeyId, keys),
    tokenKey,
    accessTtlSeconds: cfg.auth.accessTtlSeconds,
    refreshTtlSeconds: cfg.auth.refreshTtlSeconds,
    dataPlaneKey,
    dataPlaneTokenTtlSeconds: cfg.dataPlaneTokenTtlSeconds,
    fingerprints: await fingerprintKeys({
      tokenKey,
      dataPlanePublicKeyB64: dataPlaneKey.publicKeyB64,
      secretActiveId: cfg.secrets.activeKeyId,
      secretKeys: keys,
    }),
  };
}

export async function newEd25519Pkcs8(): Promise<string> {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return b64(new Uint8Array(await crypto.subtle.exportKey("pkcs8", kp.privateKey)));
}

/** The data-plane token key from its PKCS#8 form; the public half is derived through JWK. */
export async function loadDataPlaneKey(pkcs8B64: string): Promise<Identity["dataPlaneKey"]> {
  const extractable = await crypto.subtle.importKey("pkcs8", fromB64(pkcs8B64), { name: "Ed25519" }, true, ["sign"]).catch(() => {
    throw new ConfigInvalid(["DATA_PLANE_TOKEN_KEY: not an Ed25519 PKCS#8 private key"]);
  });
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  const publicKeyB64 = b64(fromB64url(jwk.x!));
  const privateKey = await crypto.subtle.importKey("pkcs8", fromB64(pkcs8B64), { name: "Ed25519" }, false, ["sign"]);
  return { kid: await keyFingerprint(publicKeyB64), publicKeyB64, privateKey };
}

async function readKey(src: KeySource, name: string): Promise<string | undefined> {
  if (src.b64) return src.b64.trim();
  if (!src.file) return undefined;
  try {
    return (await readFile(src.file, "utf8")).trim();
  } catch (err) {
    throw new ConfigInvalid([`${name}_FILE: cannot read ${src.file} (${(err as NodeJS.ErrnoException).code ?? "error"})`]);
  }
}

function decode32(text: string, name: string): Bytes {
  const raw = fromB64(text);
  if (raw.length !== 32) throw new ConfigInvalid([`${name}: must be 32 bytes in base64, got ${raw.length} bytes`]);
  return raw;
}

function bad(name: string) {
  return (err: unknown): never => {
    throw new ConfigInvalid([`${name}: ${err instanceof Error ? err.message : "invalid key"}`]);
  };
}

/** A development key kept in DATA_DIR so restarts keep sessions and secrets readable. */
async function devKey(cfg: Config, file: string, log: Logger, generate: () => Promise<string> = async () => b64(randomBytes(32))): Promise<string> {
  const path = join(cfg.dataDir, file);
  const existing = await readFile(path, "utf8").then(
    (s) => s.trim(),
    () => "",
  );
  if (existing) return existing;
  const key = await generate();
  await writeFile(path, `${key}\n`, { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  log.info("development key generated", { file: path });
  return key;
}
