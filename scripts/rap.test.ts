/**
 * The `rap` operator CLI as an operator runs it: a real `bun scripts/rap.ts`
 * process against an in-process control plane served on loopback. Login
 * with password and TOTP, the credentials file's modes, a cluster → join
 * token → join request → approve flow with --json and tables, step-up when
 * the API asks for it (after the clock moved past the access token too, so
 * the refresh runs), one-line errors with the API's code, logout, --help
 * everywhere without side effects, and bad options.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { useStores } from "../fixtures/stores.ts";
import { runToExit } from "../fixtures/process.ts";
import { makeApp, serveApp, type TestApp } from "../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, nextCode, PASSWORD, type Session } from "../fixtures/identity.ts";
import { joinBody, nodeKeys } from "../fixtures/nodes.ts";
import { notPrivate } from "../fixtures/file-modes.ts";

setDefaultTimeout(60_000);
const stores = useStores();
const RAP = resolve(import.meta.dirname, "rap.ts");

let t: TestApp;
let server: { url: string; stop: () => Promise<void> };
let owner: Session;
let home: string;
let config: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function rap(args: string[], o: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  return runToExit([process.execPath, RAP, ...args], { env: { PATH: process.env.PATH ?? "", HOME: home, XDG_CONFIG_HOME: config, ...o.env }, stdin: o.stdin });
}
const ok = (r: Run) => {
  if (r.code !== 0) throw new Error(`rap exited ${r.code}: ${r.stderr}`);
  return r.stdout;
};
const okJson = async (args: string[], env?: Record<string, string>) => JSON.parse(ok(await rap([...args, "--json"], { env })));
const credentials = () => join(config, "rap", "credentials.json");

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
  server = serveApp(t);
  owner = await enrollTotp(t, await bootstrapOwner(t));
  home = await mkdtemp(join(tmpdir(), "rap-cli-"));
  config = join(home, "config");
});

afterAll(async () => {
  await server?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("rap", () => {
  test("--help everywhere prints usage, exits 0 and touches nothing", async () => {
    for (const args of [
      ["--help"],
      ["-h"],
      ["login", "--help"],
      ["logout", "--help"],
      ["clusters", "--help"],
      ["clusters", "create", "--help"],
      ["nodes", "--help"],
      ["nodes", "revoke", "x", "--help"],
      ["tokens", "create", "-h"],
      ["requests", "approve", "--help"],
      ["groups", "list", "--help"],
      ["roles", "assign", "--help"],
      ["root", "--help"],
      ["root", "keygen", "--help"],
    ]) {
      const r = await rap(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(r.stdout).toContain("usage: rap");
    }
    expect(existsSync(credentials())).toBe(false);
    expect(ok(await rap(["--help"]))).toContain("rap nodes list|show|drain|activate|enable|disable|revoke");
  });

  test("unknown commands and options exit 2 with usage; a missing sign-in is one line", async () => {
    for (const args of [
      [],
      ["bogus"],
      ["nodes"],
      ["nodes", "frobnicate"],
      ["nodes", "list", "--bogus"],
      ["clusters", "create", "only-name"],
      ["root", "nope"],
    ]) {
      const r = await rap(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain("usage: rap");
    }
    const r = await rap(["clusters", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`rap: not signed in; run \`rap login\` first (${credentials()})`);
  });

  test("login needs the TOTP code, keeps the tokens owner-only and never the password", async () => {
    const env = { RAP_URL: server.url, RAP_EMAIL: owner.email };
    const noCode = await rap(["login", "--password-stdin"], { env, stdin: `${PASSWORD}\n` });
    expect(noCode.code).toBe(1);
    expect(noCode.stderr).toContain("auth.mfa_required");
    const wrong = await rap(["login", "--password-stdin"], { env: { ...env, RAP_TOTP: "000000" }, stdin: "wrong password!\n" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toEndWith("(auth.invalid_credentials)");
    expect(existsSync(credentials())).toBe(false);

    const r = await rap(["login", "--url", server.url, "--email", owner.email, "--password-stdin", "--totp", await nextCode(t, owner.totpSecret!)], {
      stdin: `${PASSWORD}\n`,
    });
    expect(ok(r)).toContain(`signed in to ${server.url} as ${owner.email}`);
    expect(await notPrivate(join(config, "rap"))).toEqual([]);
    const saved = await readFile(credentials(), "utf8");
    expect(saved).not.toContain(PASSWORD);
    expect(JSON.parse(saved)).toMatchObject({ url: server.url, email: owner.email });
    expect((await okJson(["whoami"])).email).toBe(owner.email);
  });

  test("clusters, join tokens, join requests, approval, nodes and groups, as tables and --json", async () => {
    const cluster = await okJson(["clusters", "create", "Main", "main", "--region", "eu-west"]);
    expect(cluster).toMatchObject({ slug: "main", region: "eu-west", status: "active" });
    expect(ok(await rap(["clusters", "list"]))).toMatch(/ID\s+SLUG\s+NAME\s+STATUS\s+REGION\n.*main\s+Main\s+active\s+eu-west/);

    const token = await okJson(["tokens", "create", "--uses", "2", "--role", "relay-node"]);
    expect(token.agent_command).toContain(token.token);
    expect((await okJson(["tokens", "list", "--cluster", "main"])).items.map((x: { id: string }) => x.id)).toEqual([token.id]);

    for (const name of ["edge-1", "edge-2"]) {
      const res = await t.call("POST", "/api/v1/node-agents/enrollments", {
        body: joinBody(await nodeKeys(name), cluster.id, token.token, { node_name: name }),
      });
      expect(res.status).toBe(202);
    }
    const pending = await okJson(["requests", "list", "--cluster", cluster.id]);
    expect(pending.items.map((r: { node_name: string }) => r.node_name).sort()).toEqual(["edge-1", "edge-2"]);
    expect(ok(await rap(["requests", "list"]))).toContain("edge-2");

    const approved = await okJson(["requests", "approve", "edge-1"]);
    expect(approved.node_id).toBeString();
    expect(ok(await rap(["requests", "reject", "edge-2", "--reason", "unknown host"]))).toContain("rejected edge-2");

    const listed = await okJson(["nodes", "list"]);
    expect(listed.items.map((n: { name: string }) => n.name)).toEqual(["edge-1"]);
    const shown = ok(await rap(["nodes", "show", "edge-1"]));
    expect(shown).toContain(`id:             ${approved.node_id}`);
    expect(shown).toContain("roles:");

    const group = await okJson(["groups", "create", "edge"]);
    expect((await okJson(["groups", "list"])).items.map((g: { id: string }) => g.id)).toContain(group.id);

    ok(await rap(["tokens", "revoke", token.id]));
    expect((await okJson(["tokens", "list"])).items[0].revoked_at).not.toBeNull();

    // A refusal is one line with the API's code.
    const refused = await rap(["roles", "assign", "edge-1", "vpn-exit"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/^rap: .+ \((node\.[a-z_]+|actor\.event_rejected)\)\n$/);
  });

  test("a step-up is asked for when the API wants one; an expired access token is refreshed", async () => {
    // Past the access token's life and every step-up window.
    t.clock.advance(20 * 60_000);
    const before = JSON.parse(await readFile(credentials(), "utf8"));
    const refused = await rap(["nodes", "revoke", "edge-1", "--reason", "stolen laptop"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(
      "rap: Confirm with your authenticator code to continue. (auth.step_up_required); pass --totp CODE (or RAP_TOTP), or run it in a terminal",
    );
    const after = JSON.parse(await readFile(credentials(), "utf8"));
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(await notPrivate(join(config, "rap"))).toEqual([]);

    const r = await rap(["nodes", "revoke", "edge-1", "--reason", "stolen laptop"], { env: { RAP_TOTP: await nextCode(t, owner.totpSecret!) } });
    expect(ok(r)).toContain("revoked edge-1");
    expect((await okJson(["nodes", "list"])).items[0].status).toBe("revoked");
  });

  test("logout ends the session and forgets the tokens", async () => {
    const saved = JSON.parse(await readFile(credentials(), "utf8"));
    expect(ok(await rap(["logout"]))).toContain(`signed out of ${server.url}`);
    expect(existsSync(credentials())).toBe(false);
    expect((await stat(join(config, "rap"))).mode & 0o777).toBe(0o700);
    const reuse = await t.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: saved.refresh_token } });
    expect(reuse.status).toBe(401);
    expect(ok(await rap(["logout"]))).toContain("not signed in");
    expect((await rap(["nodes", "list"])).code).toBe(1);
  });
});
