/**
 * Cluster authority signatures: compact JWS (EdDSA) with the document type
 * in `typ`, the authority key fingerprint in `kid`, and issuer, audience and
 * cluster checked on every verification. Used for join-token scope,
 * bootstrap bundles, scoped snapshots and revocation lists.
 */
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { DomainError } from "../errors.ts";

export const AUTHORITY_ISSUER = "rap-cluster-authority";

export interface AuthorityClaims {
  typ: string;
  iss: typeof AUTHORITY_ISSUER;
  aud: string;
  cluster_id: string;
  iat: number;
}

export class AuthoritySignatureInvalid extends DomainError {
  constructor(why: string) {
    super("authority.signature_invalid", `cluster authority signature rejected: ${why}`);
  }
}

export async function signAuthority<T extends AuthorityClaims>(key: CryptoKey, kid: string, doc: T): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(doc))).setProtectedHeader({ alg: "EdDSA", typ: doc.typ, kid }).sign(key);
}

export async function verifyAuthority<T extends AuthorityClaims>(
  publicKey: CryptoKey,
  jws: string,
  expect: { typ: string; aud: string; clusterId: string },
): Promise<T> {
  let payload: Uint8Array;
  try {
    if (decodeProtectedHeader(jws).typ !== expect.typ) throw new Error("wrong typ");
    ({ payload } = await compactVerify(jws, publicKey, { algorithms: ["EdDSA"] }));
  } catch (err) {
    throw new AuthoritySignatureInvalid(err instanceof Error ? err.message : "bad signature");
  }
  const doc = JSON.parse(new TextDecoder().decode(payload)) as T;
  if (doc.typ !== expect.typ) throw new AuthoritySignatureInvalid("wrong document type");
  if (doc.iss !== AUTHORITY_ISSUER) throw new AuthoritySignatureInvalid("wrong issuer");
  if (doc.aud !== expect.aud) throw new AuthoritySignatureInvalid("wrong audience");
  if (doc.cluster_id !== expect.clusterId) throw new AuthoritySignatureInvalid("wrong cluster");
  return doc;
}
