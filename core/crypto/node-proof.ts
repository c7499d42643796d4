/**
 * Proofs a node makes with its own private key (ECDSA P-256), shared by the
 * control plane (verify) and rap-node-agent (sign):
 *
 * - enrollment proof: the signature over a server challenge that a pending
 *   agent must present before it learns anything about its request;
 * - session proof: a short JWS (ES256) exchanged for a node access token.
 *
 * The node's identity is always the key that verified, never a claim.
 */
import { CompactSign, compactVerify, decodeProtectedHeader, importSPKI } from "jose";
import { b64url, fromB64url } from "./bytes.ts";
import { EC_ALG } from "./x509.ts";

const SIG = { name: "ECDSA", hash: "SHA-256" } as const;

export function enrollmentProofMessage(requestId: string, clusterId: string, challenge: string): Uint8Array {
  return new TextEncoder().encode(`rap-enroll-proof.v1\n${requestId}\n${clusterId}\n${challenge}`);
}

export async function signEnrollmentProof(privateKey: CryptoKey, requestId: string, clusterId: string, challenge: string): Promise<string> {
  const msg = enrollmentProofMessage(requestId, clusterId, challenge);
  return b64url(new Uint8Array(await crypto.subtle.sign(SIG, privateKey, new Uint8Array(msg))));
}

export async function verifyEnrollmentProof(
  spki: Uint8Array,
  requestId: string,
  clusterId: string,
  challenge: string,
  signatureB64url: string,
): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey("spki", new Uint8Array(spki), EC_ALG, false, ["verify"]);
    return await crypto.subtle.verify(SIG, key, fromB64url(signatureB64url), new Uint8Array(enrollmentProofMessage(requestId, clusterId, challenge)));
  } catch {
    return false;
  }
}

export const NODE_PROOF_TYPE = "rap.node_proof.v1";
export const NODE_PROOF_AUDIENCE = "rap-control-plane";

export interface NodeProof {
  typ: typeof NODE_PROOF_TYPE;
  aud: string;
  cluster_id: string;
  iat: number;
  jti: string;
}

export async function signNodeProof(privateKey: CryptoKey, fingerprint: string, clusterId: string, now: Date): Promise<string> {
  const doc: NodeProof = {
    typ: NODE_PROOF_TYPE,
    aud: NODE_PROOF_AUDIENCE,
    cluster_id: clusterId,
    iat: Math.floor(now.getTime() / 1000),
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(doc)))
    .setProtectedHeader({ alg: "ES256", kid: fingerprint, typ: NODE_PROOF_TYPE })
    .sign(privateKey);
}

/** The key id (fingerprint) a proof claims; the caller looks the key up and then verifies. */
/** A key id is a key fingerprint (`fingerprintOf` in x509.ts); anything else, NUL included, is never looked up. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=$/;

export function nodeProofKid(jws: string): string | null {
  try {
    const h = decodeProtectedHeader(jws);
    return h.alg === "ES256" && typeof h.kid === "string" && FINGERPRINT.test(h.kid) ? h.kid : null;
  } catch {
    return null;
  }
}

export async function verifyNodeProof(spkiB64: string, jws: string): Promise<NodeProof | null> {
  try {
    const pem = `-----BEGIN PUBLIC KEY-----\n${spkiB64}\n-----END PUBLIC KEY-----`;
    const { payload } = await compactVerify(jws, await importSPKI(pem, "ES256"), { algorithms: ["ES256"] });
    const doc = JSON.parse(new TextDecoder().decode(payload)) as NodeProof;
    return doc.typ === NODE_PROOF_TYPE && doc.aud === NODE_PROOF_AUDIENCE ? doc : null;
  } catch {
    return null;
  }
}
