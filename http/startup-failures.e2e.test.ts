/**
 * Every refused start of a real control-plane process (`bun http/main.ts`):
 * one line on stderr with the cause and the fix, no stack trace, exit code 2
 * for a wrong configuration and 1 for a wrong environment, and nothing
 * served. The database and Redis refusals come from real servers where a
 * real one can say it (the test PostgreSQL for an unknown role or database)
 * and from a one-message stand-in where it cannot (a password refusal, as
 * the test servers trust every local user).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, runControlPlaneToExit } from "../fixtures/process.ts";

setDefaultTimeout(60_000);

let dir: string;
let n = 0;
const dataDir = () => join(dir, `cp-${++n}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-startup-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the control plane with `env` and checks the refusal's shape; answers its one line. */
async function refused(env: Record<string, string>, exitCode: 1 | 2): Promise<string> {
  const run = await runControlPlaneToExit({ DATA_DIR: dataDir(), ...env });
  const lines = run.stderr.trim().split("\n");
  expect({ code: run.code, lines }).toEqual({ code: exitCode, lines: [expect.stringMatching(/^rap control plane: .+; fix: .+/)] });
  expect(run.stdout).not.toContain("serving");
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

/**
 * A TCP server that answers the first message with `reply` and closes, as
 * PostgreSQL does after a FATAL; with `perCommand`, it stays open and answers
 * each Redis command (a RESP array) with `reply`, as Redis does.
 */
async function oneReplyServer(reply: Buffer, perCommand = false): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.on("data", (data) => {
      if (!perCommand) return socket.end(reply);
      for (const _ of data.toString("latin1").matchAll(/(?:^|\r\n)\*\d+\r\n/g)) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** A PostgreSQL ErrorResponse message (FATAL, the SQLSTATE, the text). */
function pgError(sqlstate: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlstate}\0M${message}\0\0`);
  const head = Buffer.alloc(5);
  head.write("E", 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

describe("the database", () => {
  test("a PostgreSQL that refuses the connection: exit 1, start it or correct DATABASE_URL", async () => {
    const port = await freePort();
    const line = await refused({ DATABASE_URL: `postgres://rap:secret-pw@127.0.0.1:${port}/rap` }, 1);
    expect(line).toBe(
      `rap control plane: PostgreSQL at postgres://rap:***@127.0.0.1:${port}/rap refused the connection (ECONNREFUSED); fix: start PostgreSQL there, or correct DATABASE_URL`,
    );
  });

  test("a refused password: exit 2, correct the user and password, the password never printed", async () => {
    const { port, server } = await oneReplyServer(pgError("28P01", 'password authentication failed for user "rap"'));
    try {
      const line = await refused({ DATABASE_URL: `postgres://rap:secret-pw@127.0.0.1:${port}/rap` }, 2);
      expect(line).toStartWith(`rap control plane: PostgreSQL at 127.0.0.1:${port} refused the password of user rap (28P01: `);
      expect(line).toEndWith("fix: correct the user and password in DATABASE_URL");
      expect(line).not.toContain("secret-pw");
    } finally {
      server.close();
    }
  });

  const pg = process.env.TEST_DATABASE_URL;
  test.skipIf(!pg)("an unknown role on a real PostgreSQL: exit 2, create the role or correct the user", async () => {
    const url = new URL(pg!);
    url.username = "no_such_role";
    const line = await refused({ DATABASE_URL: url.toString() }, 2);
    expect(line).toContain(`refused user no_such_role (28000: role "no_such_role" does not exist)`);
    expect(line).toEndWith("fix: create the role, allow it in pg_hba.conf, or correct the user in DATABASE_URL");
  });

  test.skipIf(!pg)("an unknown database on a real PostgreSQL: exit 2, create it or correct the name", async () => {
    const url = new URL(pg!);
    url.pathname = "/no_such_database";
    const line = await refused({ DATABASE_URL: url.toString() }, 2);
    expect(line).toContain("has no database no_such_database (3D000); fix: create it (createdb no_such_database)");
  });

  test("a DATA_DIR that is a file: exit 2", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "");
    const line = await refused({ DATA_DIR: file }, 2);
    expect(line).toBe(`rap control plane: DATA_DIR ${file} is not a directory (EEXIST); fix: point DATA_DIR at a directory this user can create or owns`);
  });
});

describe("Redis", () => {
  test("a Redis that refuses the connection: exit 1, no ioredis stack, the database untouched", async () => {
    const port = await freePort();
    const data = dataDir();
    const run = await runControlPlaneToExit({ DATA_DIR: data, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `rap control plane: Redis at redis://127.0.0.1:${port} refused the connection (ECONNREFUSED); fix: start Redis there, or correct REDIS_URL`,
    );
    expect(run.stderr).not.toContain("Unhandled error event");
    // Checked before the migrations: the embedded database was opened, nothing applied.
    expect(run.stdout).not.toContain("migrations applied");
    expect(await readdir(data)).toContain("pglite");
  });

  test("a Redis that refuses the password: exit 2, correct REDIS_URL", async () => {
    const { port, server } = await oneReplyServer(Buffer.from("-WRONGPASS invalid username-password pair or user is disabled.\r\n"), true);
    try {
      const line = await refused({ REDIS_URL: `redis://:secret-pw@127.0.0.1:${port}` }, 2);
      expect(line).toStartWith(`rap control plane: Redis at 127.0.0.1:${port} refused to authenticate (WRONGPASS: invalid username-password pair`);
      expect(line).toEndWith("fix: put the right user and password in REDIS_URL (redis://user:password@host:6379)");
      expect(line).not.toContain("secret-pw");
    } finally {
      server.close();
    }
  });
});

describe("listening and keys", () => {
  test("a port in use: exit 1, stop what uses it or choose another PORT", async () => {
    const { port, server } = await oneReplyServer(Buffer.from(""));
    try {
      const line = await refused({ PORT: String(port) }, 1);
      expect(line).toBe(
        `rap control plane: cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE); fix: stop what uses it (ss -ltnp 'sport = :${port}') or choose another PORT (PORT=0 picks a free one)`,
      );
    } finally {
      server.close();
    }
  });

  test("a HOST that is not this host's: exit 2", async () => {
    const line = await refused({ HOST: "192.0.2.1" }, 2);
    expect(line).toContain("192.0.2.1 is not an address of this host (EADDRNOTAVAIL); fix: set HOST to a local address");
  });

  test("a malformed key, an unreadable key file: exit 2, one line each", async () => {
    expect(await refused({ SECRET_ENCRYPTION_KEY_B64: "c2hvcnQ=" }, 2)).toBe(
      "rap control plane: invalid configuration: SECRET_ENCRYPTION_KEY: must be 32 bytes in base64, got 5 bytes; fix: see docs/operations.md#configuration",
    );
    const missing = join(dir, "no-such-key");
    expect(await refused({ AUTH_TOKEN_KEY_FILE: missing }, 2)).toBe(
      `rap control plane: invalid configuration: AUTH_TOKEN_KEY_FILE: cannot read ${missing} (ENOENT); fix: see docs/operations.md#configuration`,
    );
  });

  test("several bad values: one line per problem, exit 2", async () => {
    const run = await runControlPlaneToExit({ DATA_DIR: dataDir(), PORT: "http", APP_ENV: "staging" });
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^rap control plane: invalid configuration: (APP_ENV|PORT): .+; fix: see docs\/operations\.md#configuration$/);
  });
});
