/** What the agent accepts: only snapshots and bundles signed by its pinned authority, for it, not older. */
import { describe, expect, test } from "../fixtures/test.ts";
import { CompactSign } from "jose";
import { signAuthority, AUTHORITY_ISSUER } from "../core/crypto/authority-jws.ts";
import { b64 } from "../core/crypto/bytes.ts";
import { SNAPSHOT_TYPE, verifySnapshot } from "./verify.ts";
import { AgentError } from "./client.ts";

const cluster = "0190f5f0-0000-7000-8000-000000000001";
const node = "0190f5f0-0000-7000-8000-000000000002";

async function authority() {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: kp.privateKey, publicKey: b64(new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey))) };
}

const doc = (over: Record<string, unknown> = {}) =>
  ({
    typ: SNAPSHOT_TYPE,
    iss: AUTHORITY_ISSUER,
    aud: `node:${node}`,
    cluster_id: cluster,
    iat: 0,
    node_id: node,
    version: 3,
    term: 1,
    roles: [],
    heartbeat_interval_seconds: 30,
    revocation_list_version: 0,
    ...over,
  }) as never;

// Set up at module level: a describe body is synchronous on both runtimes.
const a = await authority();
const expectation = { authorityPublicKey: a.publicKey, clusterId: cluster, nodeId: node, currentVersion: 2 };
const rejects = async (jws: string, exp = expectation) => expect(await verifySnapshot(jws, exp).catch((e) => e)).toBeInstanceOf(AgentError);

describe("snapshot verification", () => {
  test("a snapshot signed by the pinned authority for this node is accepted", async () => {
    expect((await verifySnapshot(await signAuthority(a.privateKey, "k", doc()), expectation)).version).toBe(3);
  });

  test("a signed snapshot that does not match the shared contract is rejected", async () => {
    await rejects(await signAuthority(a.privateKey, "k", doc({ heartbeat_interval_seconds: undefined })));
    await rejects(await signAuthority(a.privateKey, "k", doc({ mesh: { peers: "everyone" } })));
  });

  test("a tampered payload is rejected", async () => {
    const [h, , s] = (await signAuthority(a.privateKey, "k", doc())).split(".");
    await rejects(`${h}.${Buffer.from(JSON.stringify(doc({ roles: [{ role: "entry-node", organization_id: null }] }))).toString("base64url")}.${s}`);
  });

  test("another authority, another cluster, another node, or an older version is rejected", async () => {
    const other = await authority();
    await rejects(await signAuthority(other.privateKey, "k", doc()));
    await rejects(await signAuthority(a.privateKey, "k", doc({ cluster_id: "0190f5f0-0000-7000-8000-000000000009" })));
    await rejects(await signAuthority(a.privateKey, "k", doc({ aud: "node:someone-else", node_id: "someone-else" })));
    await rejects(await signAuthority(a.privateKey, "k", doc({ version: 1 })));
  });

  test("an unsigned snapshot is rejected", async () => {
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: SNAPSHOT_TYPE })).toString("base64url")}.${Buffer.from(JSON.stringify(doc())).toString("base64url")}.`;
    await rejects(unsigned);
    const hs = await new CompactSign(new TextEncoder().encode(JSON.stringify(doc())))
      .setProtectedHeader({ alg: "HS256", typ: SNAPSHOT_TYPE })
      .sign(new Uint8Array(32));
    await rejects(hs);
  });
});
