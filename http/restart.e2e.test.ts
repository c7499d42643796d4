/**
 * End to end with real processes: what is written through an actor survives a
 * restart of the control plane, and a durable timer set before the restart
 * fires after it. Runs against PostgreSQL under scripts/test (a fresh
 * database) and the embedded PGlite otherwise.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnControlPlane } from "../fixtures/process.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { waitFor } from "../fixtures/wait.ts";

// Real stores and processes: PGlite alone takes seconds to start.
setDefaultTimeout(90_000);

let dataDir: string;
let store: TestDatabase | undefined;
const env: Record<string, string> = {};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "rap-e2e-"));
  env.DATA_DIR = dataDir;
  env.TIMER_POLL_MS = "50";
  env.INSTALLATION_INSECURE_BOOTSTRAP_ENABLED = "true";
  if (storeKind === "postgres") {
    store = await freshDatabase({ migrated: false });
    env.DATABASE_URL = store.url!;
  }
  if (process.env.TEST_REDIS_URL) env.REDIS_URL = process.env.TEST_REDIS_URL;
});
afterAll(async () => {
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe(`control plane restart (${storeKind})`, () => {
  test("clusters survive a restart and an archive timer set before it fires after it", async () => {
    const first = await spawnControlPlane(env);
    for (const key of ["secret-key", "token-key"]) expect((await stat(join(dataDir, key))).mode & 0o777).toBe(0o600);
    const json = { "content-type": "application/json" };
    const owner = { email: "owner@example.com", password: "correct horse battery staple" };
    const boot = await fetch(`${first.url}/api/v1/installation/bootstrap-owner`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ ...owner, display_name: "Owner" }),
    });
    expect(boot.status).toBe(201);
    const login = (await (await fetch(`${first.url}/api/v1/auth/login`, { method: "POST", headers: json, body: JSON.stringify(owner) })).json()) as {
      access_token: string;
    };
    // The access token is reused after the restart: the development token key persists in DATA_DIR.
    const auth = { ...json, authorization: `Bearer ${login.access_token}` };

    const created = await fetch(`${first.url}/api/v1/clusters`, { method: "POST", headers: auth, body: JSON.stringify({ name: "Durable", slug: "durable" }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const archived = await fetch(`${first.url}/api/v1/clusters/${id}/archive`, { method: "POST", headers: auth, body: JSON.stringify({ grace_seconds: 2 }) });
    expect(((await archived.json()) as { status: string }).status).toBe("archiving");
    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain("control plane stopped");

    const second = await spawnControlPlane(env);
    try {
      const read = async () => (await (await fetch(`${second.url}/api/v1/clusters/${id}`, { headers: auth })).json()) as { name: string; status: string };
      expect((await read()).name).toBe("Durable");
      const final = await waitFor(async () => ((await read()).status === "archived" ? "archived" : undefined), {
        timeoutMs: 15_000,
        what: "archive timer after restart",
      });
      expect(final).toBe("archived");
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});
