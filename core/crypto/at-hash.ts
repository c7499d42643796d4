/**
 * The ID token's `at_hash` (OpenID Connect Core 3.1.3.6): the left half of
 * the access token's hash with the hash function of the token's `alg`,
 * base64url. openid-client does not check it on the code flow, so the
 * control plane does, where the claim is present.
 */
import { b64url } from "./bytes.ts";

const HASH_OF: Record<string, "SHA-256" | "SHA-384" | "SHA-512"> = {
  RS256: "SHA-256",
  PS256: "SHA-256",
  ES256: "SHA-256",
  HS256: "SHA-256",
  RS384: "SHA-384",
  PS384: "SHA-384",
  ES384: "SHA-384",
  HS384: "SHA-384",
  RS512: "SHA-512",
  PS512: "SHA-512",
  ES512: "SHA-512",
  HS512: "SHA-512",
  // EdDSA (Ed25519) hashes with SHA-512 here, as OpenID Connect's errata and the providers that sign with it do.
  EdDSA: "SHA-512",
  Ed25519: "SHA-512",
};

export async function atHashMatches(alg: string, accessToken: string, atHash: string): Promise<boolean> {
  const hash = HASH_OF[alg];
  if (!hash) return false;
  const digest = new Uint8Array(await crypto.subtle.digest(hash, new TextEncoder().encode(accessToken)));
  return b64url(digest.subarray(0, digest.length / 2)) === atHash;
}
