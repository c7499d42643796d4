/**
 * Requests without a Host header route like any other. Load balancers'
 * default health checks (HAProxy: `OPTIONS /` or `GET /readyz HTTP/1.0`,
 * no Host) used to get `404 route.not_found` on /healthz (the path was read
 * as "z") and 400 on /readyz, so every replica was marked down. A real
 * server (http/server.ts over the suite's stores) is sent raw HTTP/1.0 and
 * HTTP/1.1 with an empty Host over a socket.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../control/config.ts";
import { createLogger } from "../core/log.ts";
import { rawHttp } from "../fixtures/raw-http.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { startServer, type RunningServer } from "./server.ts";

// A real server over real stores: PGlite alone takes seconds to start.
setDefaultTimeout(60_000);

let dataDir: string;
let store: TestDatabase | undefined;
let server: RunningServer;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "rap-hostless-"));
  if (storeKind === "postgres") store = await freshDatabase({ migrated: false });
  const cfg = loadConfig({
    DATA_DIR: dataDir,
    PORT: "0",
    DATABASE_URL: store?.url,
    REDIS_URL: process.env.TEST_REDIS_URL,
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
  });
  server = await startServer(cfg, createLogger({ level: process.env.TEST_LOGS === "1" ? "debug" : "error" }));
});
afterAll(async () => {
  await server?.stop();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const json = (body: unknown) => JSON.stringify(body);

describe(`requests without a Host header (${storeKind})`, () => {
  test("HTTP/1.0 GET /healthz without Host answers 200 ok", async () => {
    const r = await rawHttp(server.url, ["GET /healthz HTTP/1.0"]);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ok" });
  });

  test("HTTP/1.0 GET /readyz without Host answers 200 ready", async () => {
    const r = await rawHttp(server.url, ["GET /readyz HTTP/1.0"]);
    expect(r.status).toBe(200);
    expect(r.json.status).toBe("ready");
  });

  test("HTTP/1.1 with an empty Host routes /healthz and /readyz", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const r = await rawHttp(server.url, [`GET ${path} HTTP/1.1`, "Host:", "Connection: close"]);
      expect(r.status).toBe(200);
    }
  });

  test("HTTP/1.0 API routes without Host: a GET, a POST with a body, and an unknown path keeps its own path", async () => {
    const info = await rawHttp(server.url, ["GET /api/v1/installation?x=1 HTTP/1.0"]);
    expect(info.status).toBe(200);
    expect(info.json.activated).toBe(false);

    const owner = { email: "hostless@example.com", password: "correct horse battery staple" };
    const boot = await rawHttp(
      server.url,
      ["POST /api/v1/installation/bootstrap-owner HTTP/1.0", "Content-Type: application/json"],
      json({ ...owner, display_name: "Owner" }),
    );
    expect(boot.status).toBe(201);
    const login = await rawHttp(server.url, ["POST /api/v1/auth/login HTTP/1.0", "Content-Type: application/json"], json(owner));
    expect(login.status).toBe(200);
    const me = await rawHttp(server.url, ["GET /api/v1/me HTTP/1.0", `Authorization: Bearer ${login.json.access_token}`]);
    expect(me.status).toBe(200);
    expect(me.json.email).toBe(owner.email);

    const missing = await rawHttp(server.url, ["GET //healthz HTTP/1.0"]);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("route.not_found");
    expect(missing.json.error.details.path).toBe("//healthz");
  });

  test("the peer address still reaches the app for a Host-less request (the session records it)", async () => {
    if (!store) return; // the embedded PGlite is held by the server; only PostgreSQL has a second session
    const owner = { email: "hostless@example.com", password: "correct horse battery staple" };
    const login = await rawHttp(
      server.url,
      ["POST /api/v1/auth/login HTTP/1.0", "Content-Type: application/json", "User-Agent: hostless-ip-probe"],
      json(owner),
    );
    expect(login.status).toBe(200);
    const rows = await store.db.query<{ ip: string }>("select ip::text as ip from auth_sessions where user_agent = 'hostless-ip-probe'");
    expect(rows.map((r) => r.ip)).toEqual(["127.0.0.1"]);
  });
});
