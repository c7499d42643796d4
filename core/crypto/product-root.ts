/**
 * The Product Root: an offline Ed25519 key whose signatures are the only
 * source of platform power in strict mode. It signs activation manifests (the
 * first owner) and platform role grants, as compact JWS (EdDSA). The control
 * plane holds only the public key.
 */
import { CompactSign, compactVerify } from "jose";
import * as v from "valibot";
import { b64, fromB64, randomBytes, sha256 } from "./bytes.ts";
import { DomainError } from "../errors.ts";
import { PLATFORM_ROLES } from "../authz.ts";
import { Email } from "../contracts/auth.ts";
import { Text, Timestamp } from "../contracts/common.ts";

export const ACTIVATION_TYPE = "rap.activation.v1";
export const GRANT_TYPE = "rap.platform_role_grant.v1";

// Signed, but still input: the same text and date rules as the HTTP API.
const Time = Timestamp;

export const ActivationManifest = v.strictObject({
  typ: v.literal(ACTIVATION_TYPE),
  installation_id: v.pipe(v.string(), v.uuid()),
  owner_email: Email,
  owner_display_name: v.optional(Text(200)),
  issued_at: Time,
  expires_at: Time,
  nonce: v.pipe(v.string(), v.minLength(16), v.maxLength(64)),
});
export type ActivationManifest = v.InferOutput<typeof ActivationManifest>;

export const RoleGrant = v.strictObject({
  typ: v.literal(GRANT_TYPE),
  grant_id: v.pipe(v.string(), v.uuid()),
  installation_id: v.pipe(v.string(), v.uuid()),
  subject_email: Email,
  role: v.picklist(PLATFORM_ROLES),
  issued_at: Time,
  expires_at: v.optional(Time),
});
export type RoleGrant = v.InferOutput<typeof RoleGrant>;

export class SignatureInvalid extends DomainError {
  constructor(what: string, why: string) {
    super("installation.signature_invalid", `${what} is not validly signed by the Product Root: ${why}`, { what });
  }
}

export interface ProductRootKeyPair {
  publicKeyB64: string;
  privateKeyPkcs8B64: string;
}

export async function generateProductRoot(): Promise<ProductRootKeyPair> {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return {
    publicKeyB64: b64(new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey))),
    privateKeyPkcs8B64: b64(new Uint8Array(await crypto.subtle.exportKey("pkcs8", kp.privateKey))),
  };
}

export async function importPublicKey(rawB64: string): Promise<CryptoKey> {
  const raw = fromB64(rawB64.trim());
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, true, ["verify"]);
}

export async function importPrivateKey(pkcs8B64: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", fromB64(pkcs8B64.trim()), { name: "Ed25519" }, false, ["sign"]);
}

/** `SHA256:<base64>` of the raw public key, as operators compare it. */
export async function keyFingerprint(rawB64: string): Promise<string> {
  return `SHA256:${b64(await sha256(fromB64(rawB64.trim())))}`;
}

export async function signDocument(privateKey: CryptoKey, doc: ActivationManifest | RoleGrant): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(doc))).setProtectedHeader({ alg: "EdDSA", typ: doc.typ }).sign(privateKey);
}

export function newActivation(opts: {
  installationId: string;
  ownerEmail: string;
  ownerDisplayName?: string;
  now: Date;
  validForMs: number;
}): ActivationManifest {
  return v.parse(ActivationManifest, {
    typ: ACTIVATION_TYPE,
    installation_id: opts.installationId,
    owner_email: opts.ownerEmail,
    owner_display_name: opts.ownerDisplayName,
    issued_at: opts.now.toISOString(),
    expires_at: new Date(opts.now.getTime() + opts.validForMs).toISOString(),
    nonce: b64(randomBytes(16)),
  });
}

async function verifyDoc<S extends v.GenericSchema>(publicKey: CryptoKey, jws: string, schema: S, what: string): Promise<v.InferOutput<S>> {
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, publicKey, { algorithms: ["EdDSA"] }));
  } catch (err) {
    throw new SignatureInvalid(what, err instanceof Error ? err.message : "verification failed");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw new SignatureInvalid(what, "payload is not JSON");
  }
  const r = v.safeParse(schema, parsed);
  if (!r.success) throw new SignatureInvalid(what, `payload does not match ${what}: ${r.issues[0]?.message}`);
  return r.output;
}

export async function verifyActivation(publicKey: CryptoKey, jws: string, now: Date): Promise<ActivationManifest> {
  const m = await verifyDoc(publicKey, jws, ActivationManifest, "activation manifest");
  if (Date.parse(m.expires_at) < now.getTime()) throw new SignatureInvalid("activation manifest", "expired");
  return m;
}

export async function verifyGrant(publicKey: CryptoKey, jws: string, now: Date): Promise<RoleGrant> {
  const g = await verifyDoc(publicKey, jws, RoleGrant, "platform role grant");
  if (g.expires_at && Date.parse(g.expires_at) < now.getTime()) throw new SignatureInvalid("platform role grant", "expired");
  return g;
}
