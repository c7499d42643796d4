/**
 * The installation's shared keys: the first replica records them, a replica
 * with another token, data-plane or secret key is refused with one line and
 * writes nothing, and a secret-key rotation (new active key, the old one among
 * the previous keys) starts and moves the record. planKeys is pure; the rest
 * runs over the suite's stores.
 */
import { describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { randomBytes } from "../../core/crypto/bytes.ts";
import { newId } from "../../core/ids.ts";
import { listAudit } from "../../sql/audit.ts";
import { listInstallationKeys, type InstallationKeyRow } from "../../sql/installation-keys.ts";
import { useStores } from "../../fixtures/stores.ts";
import { fingerprintKeys, loadDataPlaneKey, newEd25519Pkcs8, type KeyFingerprints } from "../identity.ts";
import { checkInstallationKeys, InstallationKeyMismatch, planKeys } from "./keys.ts";

// The embedded PGlite takes seconds to start.
setDefaultTimeout(30_000);
const stores = useStores();

/** A replica's key material: a token key, a data-plane key and secret master keys by id (the first active). */
async function replicaKeys(o: { tokenKey?: Uint8Array; dataPlane?: string; secrets: [string, Uint8Array][] }): Promise<KeyFingerprints> {
  const dataPlane = await loadDataPlaneKey(o.dataPlane ?? (await newEd25519Pkcs8()));
  return fingerprintKeys({
    tokenKey: o.tokenKey ?? randomBytes(32),
    dataPlanePublicKeyB64: dataPlane.publicKeyB64,
    secretActiveId: o.secrets[0]![0],
    secretKeys: new Map(o.secrets),
  });
}

async function refusal(p: Promise<unknown>): Promise<InstallationKeyMismatch> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InstallationKeyMismatch);
  return err as InstallationKeyMismatch;
}

/** Everything the check may write: the key record and the audit log. */
async function written(): Promise<string> {
  const keys = await listInstallationKeys(stores.store.db);
  const audit = await listAudit(stores.store.db, { action: "installation.keys_recorded", limit: 100 });
  return JSON.stringify({ keys, audit: audit.map((a) => a.id) });
}

describe("planKeys", () => {
  const fp: KeyFingerprints = { authToken: "a1", dataPlaneToken: "d1", secrets: { activeId: "k1", byId: new Map([["k1", "s1"]]) } };
  const rec = (purpose: InstallationKeyRow["purpose"], keyId: string, fingerprint: string, active = true): InstallationKeyRow => ({
    purpose,
    keyId,
    fingerprint,
    active,
  });
  const installed = [rec("auth_token", "", "a1"), rec("data_plane_token", "", "d1"), rec("secret_encryption", "k1", "s1")];

  test("an empty record: every key is recorded and k1 becomes active", () => {
    const plan = planKeys([], fp, new Map());
    expect(plan.problems).toEqual([]);
    expect(plan.insert.map((r) => `${r.purpose}:${r.keyId}`).sort()).toEqual(["auth_token:", "data_plane_token:", "secret_encryption:k1"]);
    expect(plan.activateSecret).toEqual({ from: null, to: "k1" });
  });

  test("the same keys: nothing to do", () => {
    expect(planKeys(installed, fp, new Map([["k1", 3]]))).toEqual({ problems: [], insert: [], activateSecret: undefined });
  });

  test("each differing key is named with both fingerprints and the fix", () => {
    const other: KeyFingerprints = { authToken: "a2", dataPlaneToken: "d2", secrets: { activeId: "k1", byId: new Map([["k1", "s2"]]) } };
    const { problems } = planKeys(installed, other, new Map());
    expect(problems.map((p) => p.variable)).toEqual(["AUTH_TOKEN_KEY", "SECRET_ENCRYPTION_KEY", "DATA_PLANE_TOKEN_KEY"]);
    expect(problems[0]!.line).toBe(
      "AUTH_TOKEN_KEY differs from the installation's (fingerprint a1, this replica a2): give every replica the same key; see docs/operations.md#replicas",
    );
    expect(problems[1]!.line).toContain("fingerprint s1, this replica s2");
    for (const p of problems) expect(p.line).not.toContain("\n");
  });

  test("secret rotation: a new active key with the installation's active one as previous moves the record", () => {
    const rotated: KeyFingerprints = {
      ...fp,
      secrets: {
        activeId: "k2",
        byId: new Map([
          ["k2", "s2"],
          ["k1", "s1"],
        ]),
      },
    };
    const plan = planKeys(installed, rotated, new Map([["k1", 5]]));
    expect(plan.problems).toEqual([]);
    expect(plan.insert).toEqual([rec("secret_encryption", "k2", "s2", false)]);
    expect(plan.activateSecret).toEqual({ from: "k1", to: "k2" });
  });

  test("a replica without the installation's active secret key is refused, even with a new key of its own", () => {
    const afterRotation = [
      rec("auth_token", "", "a1"),
      rec("data_plane_token", "", "d1"),
      rec("secret_encryption", "k1", "s1", false),
      rec("secret_encryption", "k2", "s2"),
    ];
    const stale = planKeys(afterRotation, fp, new Map());
    expect(stale.problems.map((p) => p.variable)).toEqual(["SECRET_ENCRYPTION_KEY"]);
    expect(stale.problems[0]!.line).toContain("lacks the installation's active secret key k2");
    const fresh: KeyFingerprints = { ...fp, secrets: { activeId: "k3", byId: new Map([["k3", "s3"]]) } };
    expect(planKeys(afterRotation, fresh, new Map()).problems.map((p) => p.variable)).toEqual(["SECRET_ENCRYPTION_KEY"]);
  });

  test("values still sealed under a key the replica dropped refuse it, naming the count and the rotate call", () => {
    const afterRotation = [
      rec("auth_token", "", "a1"),
      rec("data_plane_token", "", "d1"),
      rec("secret_encryption", "k1", "s1", false),
      rec("secret_encryption", "k2", "s2"),
    ];
    const onlyNew: KeyFingerprints = { ...fp, secrets: { activeId: "k2", byId: new Map([["k2", "s2"]]) } };
    const { problems } = planKeys(
      afterRotation,
      onlyNew,
      new Map([
        ["k1", 2],
        ["k2", 1],
      ]),
    );
    expect(problems.map((p) => p.variable)).toEqual(["SECRET_ENCRYPTION_PREVIOUS_KEYS"]);
    expect(problems[0]!.line).toContain("2 sealed secrets are under key k1");
    expect(problems[0]!.line).toContain("POST /api/v1/platform/secrets/rotate");
    expect(planKeys(afterRotation, onlyNew, new Map([["k2", 1]])).problems).toEqual([]);
  });

  test("a replica whose active key is an earlier key of the installation is refused: a stale replica cannot roll a rotation back", () => {
    const afterRotation = [
      rec("auth_token", "", "a1"),
      rec("data_plane_token", "", "d1"),
      rec("secret_encryption", "k1", "s1", false),
      rec("secret_encryption", "k2", "s2"),
    ];
    const back: KeyFingerprints = {
      ...fp,
      secrets: {
        activeId: "k1",
        byId: new Map([
          ["k1", "s1"],
          ["k2", "s2"],
        ]),
      },
    };
    const { problems } = planKeys(afterRotation, back, new Map());
    expect(problems.map((p) => p.variable)).toEqual(["SECRET_ENCRYPTION_KEY"]);
    expect(problems[0]!.line).toContain("active key k1 is an earlier key of the installation, whose active key is now k2");
    // Forward is always possible: a new key id becomes active.
    const forward: KeyFingerprints = {
      ...fp,
      secrets: {
        activeId: "k3",
        byId: new Map([
          ["k3", "s3"],
          ["k2", "s2"],
          ["k1", "s1"],
        ]),
      },
    };
    expect(planKeys(afterRotation, forward, new Map()).activateSecret).toEqual({ from: "k2", to: "k3" });
  });
});

describe("checkInstallationKeys over the store", () => {
  const tokenKey = randomBytes(32);
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  let dataPlane: string;

  test("the first replica records its keys once (two starting together); a restart with the same keys writes nothing", async () => {
    dataPlane = await newEd25519Pkcs8();
    const mine = await replicaKeys({ tokenKey, dataPlane, secrets: [["k1", k1]] });
    const other = stores.store.connect();
    const results = await Promise.all([checkInstallationKeys(stores.store.db, mine), checkInstallationKeys(other, mine)]);
    expect(results.map((r) => r.recorded.length).sort()).toEqual([0, 3]);
    const rows = await listInstallationKeys(stores.store.db);
    expect(rows.map((r) => `${r.purpose}:${r.keyId}:${r.active}`)).toEqual(["auth_token::true", "data_plane_token::true", "secret_encryption:k1:true"]);
    for (const r of rows) expect(r.fingerprint).toMatch(/^[0-9a-f]{16}$/);

    const before = await written();
    expect(await checkInstallationKeys(stores.store.db, mine)).toEqual({ recorded: [], activatedSecret: undefined });
    expect(await written()).toBe(before);
  });

  test("another token key, data-plane key or secret key is refused and changes nothing", async () => {
    const before = await written();
    const token = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ dataPlane, secrets: [["k1", k1]] })));
    expect(token.message).toMatch(
      /^AUTH_TOKEN_KEY differs from the installation's \(fingerprint [0-9a-f]{16}, this replica [0-9a-f]{16}\): give every replica the same key; see docs\/operations.md#replicas$/,
    );
    const secret = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ tokenKey, dataPlane, secrets: [["k1", randomBytes(32)]] })));
    expect(secret.message).toStartWith("SECRET_ENCRYPTION_KEY (key id k1) differs from the installation's key k1");
    const dp = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ tokenKey, secrets: [["k1", k1]] })));
    expect(dp.message).toStartWith("DATA_PLANE_TOKEN_KEY differs");
    const all = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ secrets: [["k1", randomBytes(32)]] })));
    expect(all.message).toEndWith("(also differs: SECRET_ENCRYPTION_KEY, DATA_PLANE_TOKEN_KEY)");
    expect(await written()).toBe(before);
  });

  test("a rotation starts and moves the active key; dropping the old key while values are sealed under it is refused", async () => {
    // A TOTP seed sealed under k1, as a user who enabled TOTP before the rotation has.
    await stores.store.db.query(
      "insert into users (id, email, display_name, password_hash, totp_key_id, totp_wrapped_key, totp_ciphertext) values ($1, $2, 'T', 'x', 'k1', 'w', 'c')",
      [newId(), `totp-${newId()}@example.com`],
    );
    const rotated = await checkInstallationKeys(
      stores.store.db,
      await replicaKeys({
        tokenKey,
        dataPlane,
        secrets: [
          ["k2", k2],
          ["k1", k1],
        ],
      }),
    );
    expect(rotated).toEqual({ recorded: ["secret_encryption:k2"], activatedSecret: { from: "k1", to: "k2" } });
    const [audit] = await listAudit(stores.store.db, { action: "installation.keys_recorded", limit: 1 });
    expect(audit!.details).toMatchObject({ recorded: ["secret_encryption:k2"], secret_active_key: "k2", previous_secret_active_key: "k1" });

    const before = await written();
    const stale = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ tokenKey, dataPlane, secrets: [["k1", k1]] })));
    expect(stale.message).toStartWith("SECRET_ENCRYPTION_KEY: this replica lacks the installation's active secret key k2");
    const dropped = await refusal(checkInstallationKeys(stores.store.db, await replicaKeys({ tokenKey, dataPlane, secrets: [["k2", k2]] })));
    expect(dropped.message).toStartWith("SECRET_ENCRYPTION_PREVIOUS_KEYS: 1 sealed secret is under key k1");
    expect(await written()).toBe(before);

    // After the rotate call re-wrapped everything under k2, the old key may go.
    await stores.store.db.query("update users set totp_key_id = 'k2' where totp_key_id = 'k1'");
    expect(await checkInstallationKeys(stores.store.db, await replicaKeys({ tokenKey, dataPlane, secrets: [["k2", k2]] }))).toEqual({
      recorded: [],
      activatedSecret: undefined,
    });
    const rows = await listInstallationKeys(stores.store.db);
    expect(rows.filter((r) => r.purpose === "secret_encryption").map((r) => `${r.keyId}:${r.active}`)).toEqual(["k1:false", "k2:true"]);
  });
});
