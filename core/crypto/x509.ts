/**
 * X.509 for the cluster CA and node certificates (ECDSA P-256, which every
 * TLS stack we talk to accepts). A node certificate binds the cluster id and
 * node id in one URI SAN: `spiffe://rap/cluster/<clusterId>/node/<nodeId>`.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { b64, sha256, type Bytes } from "./bytes.ts";
import { DomainError } from "../errors.ts";

x509.cryptoProvider.set(crypto);

export const EC_ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export function nodeUri(clusterId: string, nodeId: string): string {
  return `spiffe://rap/cluster/${clusterId}/node/${nodeId}`;
}

export class CsrInvalid extends DomainError {
  constructor(why: string) {
    super("enrollment.csr_invalid", `certificate request invalid: ${why}`);
  }
}

export async function fingerprintOf(spki: Uint8Array): Promise<string> {
  return `SHA256:${b64(await sha256(spki))}`;
}

export async function createCa(clusterId: string, now: Date): Promise<{ certPem: string; privatePkcs8: Bytes; fingerprint: string }> {
  const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=rap cluster ${clusterId} node CA`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86_400_000),
    keys,
    signingAlgorithm: EC_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://rap/cluster/${clusterId}` }]),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    privatePkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
    fingerprint: `SHA256:${b64(await sha256(new Uint8Array(cert.rawData)))}`,
  };
}

/** Verifies the CSR's self-signature and returns its public key (SPKI). */
export async function readCsr(pem: string): Promise<Bytes> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new CsrInvalid("not a PEM PKCS#10 request");
  }
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw new CsrInvalid("key must be ECDSA P-256");
  if (!(await csr.verify().catch(() => false))) throw new CsrInvalid("signature does not verify");
  return new Uint8Array(csr.publicKey.rawData);
}

export interface IssuedCertificate {
  pem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export async function issueNodeCertificate(opts: {
  caCertPem: string;
  caPrivatePkcs8: Uint8Array;
  nodePublicSpki: Uint8Array;
  clusterId: string;
  nodeId: string;
  serial: bigint;
  now: Date;
  validForMs: number;
}): Promise<IssuedCertificate> {
  const ca = new x509.X509Certificate(opts.caCertPem);
  const caKey = await crypto.subtle.importKey("pkcs8", new Uint8Array(opts.caPrivatePkcs8), EC_ALG, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", new Uint8Array(opts.nodePublicSpki), EC_ALG, true, ["verify"]);
  const serial = opts.serial.toString(16).padStart(16, "0");
  const notBefore = new Date(opts.now.getTime() - 60_000);
  const notAfter = new Date(opts.now.getTime() + opts.validForMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=node ${opts.nodeId}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingKey: caKey,
    publicKey,
    signingAlgorithm: EC_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: nodeUri(opts.clusterId, opts.nodeId) }], true),
    ],
  });
  return { pem: cert.toString("pem"), serial, notBefore, notAfter };
}

/** What a peer (or a test) checks: signed by this CA, in validity, and the URI SAN it expects. */
export async function verifyNodeCertificate(certPem: string, caCertPem: string, expect: { clusterId: string; nodeId: string; at: Date }): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  const ca = new x509.X509Certificate(caCertPem);
  if (!(await cert.verify({ publicKey: ca.publicKey, date: expect.at }).catch(() => false))) return false;
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return Boolean(san?.names.items.some((n) => n.type === "url" && n.value === nodeUri(expect.clusterId, expect.nodeId)));
}
