/**
 * The cluster authority: an Ed25519 signing key (join-token scope, bootstrap
 * bundles, snapshots, revocation lists) and an ECDSA P-256 node CA, made when
 * the cluster is created and sealed with the secret keyring. `AuthorityKeys`
 * unseals once per process and keeps the keys in memory.
 */
import type { Keyring } from "../../core/crypto/envelope.ts";
import { b64, fromB64 } from "../../core/crypto/bytes.ts";
import { keyFingerprint } from "../../core/crypto/product-root.ts";
import { createCa } from "../../core/crypto/x509.ts";
import { signAuthority, AUTHORITY_ISSUER, type AuthorityClaims } from "../../core/crypto/authority-jws.ts";
import { NotFound } from "../../core/errors.ts";
import type { Tx } from "../../sql/db.ts";
import { getAuthority, type AuthorityRow } from "../../sql/cluster-authorities.ts";

const aad = (clusterId: string, part: "signing" | "ca") => `cluster-authority:${clusterId}:${part}`;

export async function newAuthority(keyring: Keyring, clusterId: string, now: Date): Promise<AuthorityRow> {
  const signing = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const publicRaw = b64(new Uint8Array(await crypto.subtle.exportKey("raw", signing.publicKey)));
  const privatePkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", signing.privateKey));
  const ca = await createCa(clusterId, now);
  const row: AuthorityRow = {
    clusterId,
    signingPublicKey: publicRaw,
    signingFingerprint: await keyFingerprint(publicRaw),
    signingSealed: await keyring.seal(privatePkcs8, aad(clusterId, "signing")),
    caCertificatePem: ca.certPem,
    caFingerprint: ca.fingerprint,
    caSealed: await keyring.seal(ca.privatePkcs8, aad(clusterId, "ca")),
  };
  privatePkcs8.fill(0);
  ca.privatePkcs8.fill(0);
  return row;
}

export async function rewrapAuthority(keyring: Keyring, a: AuthorityRow) {
  return { signing: await keyring.rewrap(a.signingSealed, aad(a.clusterId, "signing")), ca: await keyring.rewrap(a.caSealed, aad(a.clusterId, "ca")) };
}

export interface LoadedAuthority {
  clusterId: string;
  signingPublicKey: string;
  signingFingerprint: string;
  caCertificatePem: string;
  caFingerprint: string;
  caPrivatePkcs8: Uint8Array;
  /** Signs an authority document; issuer and cluster are filled in. */
  sign<T extends object>(typ: string, aud: string, doc: T, now: Date): Promise<string>;
  publicKey(): Promise<CryptoKey>;
}

export class AuthorityKeys {
  private readonly cache = new Map<string, LoadedAuthority>();

  constructor(private readonly keyring: Keyring) {}

  async load(tx: Tx, clusterId: string): Promise<LoadedAuthority> {
    const hit = this.cache.get(clusterId);
    if (hit) return hit;
    const row = await getAuthority(tx, clusterId);
    if (!row) throw new NotFound("cluster.not_found", `cluster ${clusterId} has no authority`, { id: clusterId });
    const signingKey = await crypto.subtle.importKey(
      "pkcs8",
      await this.keyring.open(row.signingSealed, aad(clusterId, "signing")),
      { name: "Ed25519" },
      false,
      ["sign"],
    );
    const caPrivatePkcs8 = await this.keyring.open(row.caSealed, aad(clusterId, "ca"));
    const loaded: LoadedAuthority = {
      clusterId,
      signingPublicKey: row.signingPublicKey,
      signingFingerprint: row.signingFingerprint,
      caCertificatePem: row.caCertificatePem,
      caFingerprint: row.caFingerprint,
      caPrivatePkcs8,
      sign: (typ, aud, doc, now) =>
        signAuthority(signingKey, row.signingFingerprint, {
          ...doc,
          typ,
          iss: AUTHORITY_ISSUER,
          aud,
          cluster_id: clusterId,
          iat: Math.floor(now.getTime() / 1000),
        } as AuthorityClaims & typeof doc),
      publicKey: () => crypto.subtle.importKey("raw", fromB64(row.signingPublicKey), { name: "Ed25519" }, true, ["verify"]),
    };
    this.cache.set(clusterId, loaded);
    return loaded;
  }
}
