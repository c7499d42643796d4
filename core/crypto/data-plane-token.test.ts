/** The offline verifier an entry node runs: every refusal, in the spec's error event shape. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { entryRef, signDataPlaneToken, verifyDataPlaneToken } from "./data-plane-token.ts";
import {
  DATA_PLANE_AUDIENCE,
  DATA_PLANE_ISSUER,
  DATA_PLANE_TOKEN_TYPE,
  type DataPlaneClaims,
  type DataPlaneExpect,
  type DataPlaneKey,
} from "../contracts/data-plane-token.ts";
import { errorEvent } from "../error-event.ts";
import { b64, fromB64url } from "./bytes.ts";

const now = new Date("2026-03-01T12:00:00Z");
const t0 = Math.floor(now.getTime() / 1000);
const SID = "01a20a05-7de4-745e-9a97-9afb1e424ac0";
const OTHER = "01a20a05-82d0-71ac-b254-3e4f46bb03de";
const ENTRY = "01a20a05-85ca-741e-a12c-40f321e2b257";
const U = "01a20a05-85ca-741e-a12c-40f321e2b258";

async function keyPair(kid: string) {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", kp.publicKey);
  return { sign: { kid, privateKey: kp.privateKey }, pub: { kid, alg: "EdDSA", public_key: b64(fromB64url(jwk.x!)) } as DataPlaneKey };
}

async function claims(over: Partial<DataPlaneClaims> = {}): Promise<DataPlaneClaims> {
  return {
    typ: DATA_PLANE_TOKEN_TYPE,
    iss: DATA_PLANE_ISSUER,
    aud: DATA_PLANE_AUDIENCE,
    jti: U,
    iat: t0,
    exp: t0 + 60,
    sid: SID,
    att: U,
    sub: U,
    org: U,
    rid: U,
    proto: "ssh",
    ent: [await entryRef(SID, ENTRY)],
    chn: ["control", "input", "render"],
    pol: { clipboard: "disabled", file_transfer: "disabled" },
    ...over,
  };
}

// Set up at module level: a describe body is synchronous on both runtimes.
const k = await keyPair("dp-1");
const other = await keyPair("dp-2");
const expect0: DataPlaneExpect = { entryNodeId: ENTRY, sessionId: SID };

describe("verifyDataPlaneToken", () => {
  test("a valid token verifies with the snapshot's key and gives its claims", async () => {
    const v = await verifyDataPlaneToken(await signDataPlaneToken(k.sign, await claims()), [other.pub, k.pub], expect0, now);
    expect(v).toMatchObject({ ok: true, claims: { sid: SID, chn: ["control", "input", "render"] } });
  });

  test("refusals: expired, wrong session, wrong entry, tampered, unknown key, too long, issued in the future, garbage", async () => {
    const code = async (token: string, e = expect0, at = now) => {
      const v = await verifyDataPlaneToken(token, [k.pub], e, at);
      return v.ok ? "ok" : v.code;
    };
    const good = await signDataPlaneToken(k.sign, await claims());
    expect(await code(good, expect0, new Date((t0 + 60) * 1000))).toBe("data_plane.token_expired");
    expect(await code(good, { entryNodeId: ENTRY, sessionId: OTHER })).toBe("data_plane.wrong_session");
    expect(await code(good, { entryNodeId: OTHER })).toBe("data_plane.wrong_entry");
    const [h, p, s] = good.split(".");
    const forged = Buffer.from(JSON.stringify({ ...(await claims()), sid: OTHER })).toString("base64url");
    expect(await code(`${h}.${forged}.${s}`)).toBe("data_plane.token_invalid");
    expect(await code(await signDataPlaneToken(other.sign, await claims()))).toBe("data_plane.token_invalid");
    expect(await code(await signDataPlaneToken({ ...other.sign, kid: "dp-1" }, await claims()))).toBe("data_plane.token_invalid");
    expect(await code(await signDataPlaneToken(k.sign, await claims({ exp: t0 + 3600 })))).toBe("data_plane.token_invalid");
    expect(await code(await signDataPlaneToken(k.sign, await claims({ iat: t0 + 30, exp: t0 + 90 })))).toBe("data_plane.token_invalid");
    expect(await code(await signDataPlaneToken(k.sign, await claims({ exp: t0 + 120 })), { ...expect0, maxTtlSeconds: 60 })).toBe("data_plane.token_invalid");
    for (const junk of ["", "a.b.c", `${h}.${p}`, "x".repeat(10_000)]) expect(await code(junk)).toBe("data_plane.token_invalid");
  });

  test("entry refs are bound to the session and reveal no node id", async () => {
    expect(await entryRef(SID, ENTRY)).not.toBe(await entryRef(OTHER, ENTRY));
    expect(await entryRef(SID, ENTRY)).not.toContain(ENTRY.slice(0, 8));
  });

  test("a refusal becomes the spec's error event", () => {
    expect(errorEvent("data_plane.token_replayed", { session_id: SID }, "abc")).toEqual({
      code: "data_plane.token_replayed",
      message_key: "errors.data_plane.token_replayed",
      fallback_message: "The connection token was already used. Connect again.",
      details: { session_id: SID },
      trace_id: "abc",
    });
    expect(errorEvent("internal.error", { x: 1 }, "t").details).toEqual({});
  });
});
