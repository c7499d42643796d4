/**
 * The release repository's trust metadata, in The Update Framework's format
 * (TUF, the scheme package managers use; written with @tufjs/models, read by
 * the agent with tuf-js). Why TUF rather than one signed JSON: its four roles
 * already answer the attacks an update path meets — an older manifest
 * replayed (versions only go up), a frozen feed (a short-lived timestamp), a
 * swapped or truncated file (lengths and hashes in signed targets), and a key
 * that must be replaced (root rotation).
 *
 * The Product Root (offline) signs `root`, which names the release key for
 * `targets` and `snapshot`, and an online timestamp key for `timestamp` (or
 * the release key for all three, a one-key root). The timestamp key is the
 * only key a refresh needs, so the release key can stay off the machine that
 * keeps the feed fresh: a stolen timestamp key can freeze or delay a feed but
 * never publish a release. Keys are
 * Ed25519 (WebCrypto) in the same base64 raw/PKCS#8 form as the Product Root,
 * so `rap root` keys work here unchanged. Signing computes TUF's canonical
 * JSON of `signed` and signs those bytes, as the TUF specification says.
 */
import { canonicalize } from "@tufjs/canonical-json";
import { Key, MetaFile, Metadata, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from "@tufjs/models";
import { fromB64, sha256Hex } from "../crypto/bytes.ts";
import { importPrivateKey } from "../crypto/product-root.ts";

export const SPEC_VERSION = "1.0.31";

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** TUF's public-key form of a raw Ed25519 key (base64), with its key id (sha256 of the canonical key). */
export async function tufKey(publicKeyB64: string): Promise<Key> {
  const raw = fromB64(publicKeyB64.trim());
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  const body = { keytype: "ed25519", scheme: "ed25519", keyval: { public: hex(raw) } };
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalize(body))));
  return new Key({ keyID: hex(digest), keyType: "ed25519", scheme: "ed25519", keyVal: { public: hex(raw) } });
}

/** A signing key: the private half (PKCS#8 base64) and the TUF key of its public half. */
export interface SigningKey {
  key: Key;
  privateKey: CryptoKey;
}

export async function signingKey(privateKeyPkcs8B64: string, publicKeyB64: string): Promise<SigningKey> {
  return { key: await tufKey(publicKeyB64), privateKey: await importPrivateKey(privateKeyPkcs8B64) };
}

type AnySigned = Root | Targets | Snapshot | Timestamp;

/** Signs `md` with `signer`, replacing any earlier signatures (each role here has one key). */
export async function sign<T extends AnySigned>(md: Metadata<T>, signer: SigningKey): Promise<Metadata<T>> {
  const bytes = new TextEncoder().encode(canonicalize(md.signed.toJSON()));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signer.privateKey, bytes));
  md.signatures = { [signer.key.keyID]: new Signature({ keyID: signer.key.keyID, sig: hex(sig) }) };
  return md;
}

/** TUF dates are whole seconds with a Z. */
export const tufTime = (d: Date): string => `${d.toISOString().slice(0, 19)}Z`;

/**
 * Root metadata version `version`: the Product Root signs it and keeps the
 * root role; the release key gets targets, snapshot and timestamp. Consistent
 * snapshots are on, so every artifact is stored and fetched under its own
 * hash (content-addressed) and metadata under its version.
 */
export async function rootMetadata(opts: {
  productRootPublicB64: string;
  releasePublicB64: string;
  /** The online timestamp key; without it the release key signs timestamps too (a one-key root). */
  timestampPublicB64?: string;
  version: number;
  expires: Date;
}): Promise<Metadata<Root>> {
  const root = new Root({ version: opts.version, specVersion: SPEC_VERSION, expires: tufTime(opts.expires), consistentSnapshot: true });
  const rootKey = await tufKey(opts.productRootPublicB64);
  const releaseKey = await tufKey(opts.releasePublicB64);
  root.addKey(rootKey, "root");
  for (const role of ["targets", "snapshot"]) root.addKey(releaseKey, role);
  root.addKey(opts.timestampPublicB64 ? await tufKey(opts.timestampPublicB64) : releaseKey, "timestamp");
  return new Metadata(root);
}

/** The key ids a root names for a role (what publish and refresh check their keys against before signing). */
export function roleKeyIds(root: Metadata<Root>, role: "targets" | "snapshot" | "timestamp"): string[] {
  return root.signed.roles[role]?.keyIDs ?? [];
}

/** A file the repository serves, with what the signed targets say about it. */
export interface TargetInput {
  path: string;
  bytes: Uint8Array;
  /** Signed beside the hashes (TUF `custom`): os, arch, kind, version. */
  custom?: Record<string, string>;
}

export async function targetFile(t: TargetInput): Promise<TargetFile> {
  const digest = await sha256Hex(t.bytes);
  return new TargetFile({
    path: t.path,
    length: t.bytes.length,
    hashes: { sha256: digest },
    unrecognizedFields: t.custom ? { custom: t.custom } : undefined,
  });
}

/** The three release-key documents that publish a targets set, each one version past the last. */
export interface PublishedMetadata {
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
}

/**
 * Signs a new targets/snapshot/timestamp generation. `previous` is the
 * repository's current generation (undefined for the first); versions go up by
 * one so a client that has seen this generation refuses every older one.
 */
export async function publishGeneration(opts: {
  previous?: { targets: number; snapshot: number; timestamp: number };
  targets: TargetFile[];
  releaseKey: SigningKey;
  /** Signs the timestamp; the release key when the root names it for timestamps too. */
  timestampKey?: SigningKey;
  now: Date;
  targetsExpiry: Date;
  timestampExpiry: Date;
}): Promise<PublishedMetadata> {
  const v = opts.previous ?? { targets: 0, snapshot: 0, timestamp: 0 };
  const targets = new Metadata(
    new Targets({
      version: v.targets + 1,
      specVersion: SPEC_VERSION,
      expires: tufTime(opts.targetsExpiry),
      targets: Object.fromEntries(opts.targets.map((t) => [t.path, t])),
    }),
  );
  await sign(targets, opts.releaseKey);
  const snapshot = new Metadata(
    new Snapshot({
      version: v.snapshot + 1,
      specVersion: SPEC_VERSION,
      expires: tufTime(opts.targetsExpiry),
      meta: { "targets.json": new MetaFile({ version: targets.signed.version }) },
    }),
  );
  await sign(snapshot, opts.releaseKey);
  const timestamp = await timestampMetadata({
    version: v.timestamp + 1,
    snapshotVersion: snapshot.signed.version,
    expires: opts.timestampExpiry,
    key: opts.timestampKey ?? opts.releaseKey,
  });
  return { targets, snapshot, timestamp };
}

/** A timestamp naming snapshot `snapshotVersion`, signed by the timestamp key: all a refresh of the feed signs. */
export async function timestampMetadata(opts: { version: number; snapshotVersion: number; expires: Date; key: SigningKey }): Promise<Metadata<Timestamp>> {
  const timestamp = new Metadata(
    new Timestamp({
      version: opts.version,
      specVersion: SPEC_VERSION,
      expires: tufTime(opts.expires),
      snapshotMeta: new MetaFile({ version: opts.snapshotVersion }),
    }),
  );
  return sign(timestamp, opts.key);
}

/** Canonical bytes of a metadata document as the repository stores and serves it. */
export const metadataBytes = (md: Metadata<AnySigned>): Uint8Array => new TextEncoder().encode(JSON.stringify(md.toJSON(), null, 1));
