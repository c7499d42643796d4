/** loadIdentity: development keys persist in DATA_DIR (same fingerprints after a restart), previous secret key ids are unique. */
import { afterAll, describe, expect, test } from "../fixtures/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { b64, randomBytes } from "../core/crypto/bytes.ts";
import { createLogger } from "../core/log.ts";
import { ConfigInvalid, loadConfig } from "./config.ts";
import { loadIdentity } from "./identity.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const quiet = createLogger({ level: "error" });
const dataDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "rap-identity-"));
  dirs.push(d);
  return d;
};

describe("loadIdentity", () => {
  test("development keys generated into DATA_DIR give the same fingerprints on the next start; another DATA_DIR other ones", async () => {
    const dir = await dataDir();
    const first = await loadIdentity(loadConfig({ DATA_DIR: dir }), quiet);
    const again = await loadIdentity(loadConfig({ DATA_DIR: dir }), quiet);
    expect(again.fingerprints).toEqual(first.fingerprints);
    const elsewhere = await loadIdentity(loadConfig({ DATA_DIR: await dataDir() }), quiet);
    expect(elsewhere.fingerprints.authToken).not.toBe(first.fingerprints.authToken);
    expect(elsewhere.fingerprints.dataPlaneToken).not.toBe(first.fingerprints.dataPlaneToken);
    expect(elsewhere.fingerprints.secrets.byId.get("k1")).not.toBe(first.fingerprints.secrets.byId.get("k1"));
  });

  test("fingerprints cover the active and previous secret keys by id", async () => {
    const cfg = loadConfig({
      DATA_DIR: await dataDir(),
      SECRET_ENCRYPTION_KEY_ID: "k2",
      SECRET_ENCRYPTION_KEY_B64: b64(randomBytes(32)),
      SECRET_ENCRYPTION_PREVIOUS_KEYS: `k1:${b64(randomBytes(32))}`,
    });
    const { fingerprints } = await loadIdentity(cfg, quiet);
    expect(fingerprints.secrets.activeId).toBe("k2");
    expect([...fingerprints.secrets.byId.keys()].sort()).toEqual(["k1", "k2"]);
  });

  test("a previous key under the active key's id (or twice) is refused, not silently preferred", async () => {
    const cfg = loadConfig({
      DATA_DIR: await dataDir(),
      SECRET_ENCRYPTION_KEY_B64: b64(randomBytes(32)),
      SECRET_ENCRYPTION_PREVIOUS_KEYS: `k1:${b64(randomBytes(32))}`,
    });
    const err = await loadIdentity(cfg, quiet).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigInvalid);
    expect((err as ConfigInvalid).problems[0]).toContain("key id k1 is given twice");
  });
});
