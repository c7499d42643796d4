/**
 * Remote SSH sessions end to end with real processes: a control plane, an
 * entry agent and an ssh-worker agent (each a `rap-node-agent run` with its
 * mesh endpoint), a real `sshd` on loopback with throw-away keys, and
 * terminal clients on the access client library (each its own Bun process,
 * over the WebSocket fallback: Bun has no WebTransport; the browser suite
 * covers WebTransport). Keystrokes go client → entry → mesh session stream →
 * adapter → sshd and back, spliced in Rust.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { sleep } from "../../core/runtime/index.ts";
import { join } from "node:path";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { runAgent, spawnAgent, type AgentProcess } from "../../fixtures/agent-process.ts";
import { startSshd, type TestSshd } from "../../fixtures/sshd.ts";
import { TerminalClient } from "../../fixtures/access-terminal.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { launchBrowser, type Browser } from "../../fixtures/browser.ts";
import { X509Certificate, createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Page } from "playwright-core";

setDefaultTimeout(180_000);

const PASSWORD = "correct horse battery staple 9";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** The control plane fails an adapter's sessions after this much silence (ADAPTER_SILENCE_SECONDS). */
const SILENCE_S = 3;
/** Data-plane tokens live this long here (DATA_PLANE_TOKEN_TTL_SECONDS), so the expiry test waits little. */
const TOKEN_TTL_S = 10;
/** The resource's detached timeout (the smallest a resource may have). */
const DETACHED_S = 60;

let c: AgentCluster;
let sshd: TestSshd;
let clusterId: string;
let orgId: string;
let resourceId: string;
let member: string;
let memberElsewhere: string;
let entryDir: string;
let adapterDir: string;
let entry: AgentProcess;
let otherEntry: AgentProcess;
let otherEntryDir: string;
let otherEntryUrl: string;
let entryNodeId: string;
let otherEntryNodeId: string;
let otherOrgId: string;
let adapter: AgentProcess;
let adapterNodeId: string;
let certFile: string;
/** The session left detached to be ended by its timer, and the check that waits for it. */
let lingering: string | undefined;
let lingeringCheck: Promise<{ ended: any; keptMs: number; closedSsh: boolean }> | undefined;
/** The client attached in the reattach test, which the takeover test expects to be told. */
let this_client: TerminalClient | undefined;

interface Offer {
  attachment_id: string;
  token: string;
  entry: { name: string; urls: string[]; certificate_hashes: string[] };
}

const session = async (token: string, id: string) => (await c.as(token, "GET", `/api/v1/remote-sessions/${id}`)).body;

function startAgent(dir: string, env: Record<string, string> = {}, extra: string[] = []): AgentProcess {
  return spawnAgent(["run", "--state-dir", dir, "--heartbeat-interval", "1", "--mesh-listen", "127.0.0.1:0", ...extra], {
    RAP_MESH_TICK_MS: "200",
    RAP_SESSION_ASSIGNMENT_POLL_MS: "250",
    ...env,
  });
}

/** Starts a session (or attaches, or takes over) and connects a terminal client to its offer. */
function terminal(id: string, offer: Offer, transport = "websocket"): TerminalClient {
  return TerminalClient.start({ urls: offer.entry.urls, sessionId: id, token: offer.token, transport }, certFile);
}

async function started(token: string): Promise<{ id: string; offer: Offer }> {
  const r = await c.as(token, "POST", "/api/v1/remote-sessions", { resource_id: resourceId });
  expect(r.status).toBe(201);
  return { id: r.body.session.id, offer: r.body.attach };
}

beforeAll(async () => {
  c = await AgentCluster.start("rap-sessions-e2e-", {
    env: { ADAPTER_SILENCE_SECONDS: String(SILENCE_S), DATA_PLANE_TOKEN_TTL_SECONDS: String(TOKEN_TTL_S) },
  });
  clusterId = await c.newCluster("sessions");
  sshd = await startSshd();
  orgId = (await c.api("POST", "/api/v1/organizations", { name: "Acme", slug: "acme" })).id;
  otherOrgId = (await c.api("POST", "/api/v1/organizations", { name: "Globex", slug: "globex" })).id;
  for (const [email, role] of [
    ["dev@acme.test", "org_member"],
    ["other@acme.test", "org_member"],
    ["admin@acme.test", "org_admin"],
  ]) {
    await c.api("POST", `/api/v1/organizations/${orgId}/members`, { email, display_name: email, password: PASSWORD, role });
  }
  await c.api("POST", `/api/v1/organizations/${otherOrgId}/members`, {
    email: "dev@globex.test",
    display_name: "Globex dev",
    password: PASSWORD,
    role: "org_member",
  });
  resourceId = (
    await c.api("POST", "/api/v1/resources", {
      organization_id: orgId,
      name: "lab-shell",
      protocol: "ssh",
      target_host: "127.0.0.1",
      target_port: sshd.port,
      egress_pool: "lab",
      host_key_fingerprint: sshd.hostKeyFingerprint,
      detached_timeout_seconds: DETACHED_S,
      secret: { username: sshd.username, private_key: sshd.userKey },
    })
  ).id;
  entryDir = join(c.dir, "entry");
  adapterDir = join(c.dir, "adapter");
  entryNodeId = await c.enrollApproved(clusterId, entryDir, "entry");
  adapterNodeId = await c.enrollApproved(clusterId, adapterDir, "adapter");
  otherEntryDir = join(c.dir, "other-entry");
  otherEntryNodeId = await c.enrollApproved(clusterId, otherEntryDir, "other-entry");
  await c.assignRole(clusterId, entryNodeId, "entry-node");
  // An entry point of another organization: Acme's tokens do not name it.
  await c.api("POST", `/api/v1/clusters/${clusterId}/nodes/${otherEntryNodeId}/roles`, { role: "entry-node", organization_id: otherOrgId });
  await c.api("POST", `/api/v1/clusters/${clusterId}/nodes/${adapterNodeId}/roles`, {
    role: "ssh-worker",
    organization_id: orgId,
    policy: { egress_pool: "lab" },
  });
  entry = startAgent(entryDir, {}, ["--entry-listen", "127.0.0.1:0", "--entry-public-host", "127.0.0.1"]);
  adapter = startAgent(adapterDir);
  otherEntry = startAgent(otherEntryDir, {}, ["--entry-listen", "127.0.0.1:0", "--entry-public-host", "127.0.0.1"]);
  await entry.waitFor('"msg":"entry listening"', 60_000);
  await otherEntry.waitFor('"msg":"entry listening"', 60_000);
  otherEntryUrl = /"msg":"entry listening".*"url":"([^"]+)"/.exec(otherEntry.output())![1]!;
  certFile = join(entryDir, `entry-certificate-${clusterId}.pem`);
  // The entry reaches the adapter over an established mesh channel.
  await waitFor(
    async () => {
      const { code, output } = await runAgent(["status", "--json", "--state-dir", entryDir]);
      if (code !== 0) return null;
      const peers = (JSON.parse(output).memberships[0].mesh?.peers ?? []) as { node_id: string; channel: string }[];
      return peers.some((p) => p.node_id === adapterNodeId && p.channel === "established");
    },
    { timeoutMs: 60_000, what: "an established mesh channel from the entry to the adapter" },
  );
  member = await c.signIn("dev@acme.test", PASSWORD);
  memberElsewhere = await c.signIn("dev@acme.test", PASSWORD);
});

afterAll(async () => {
  if (process.env.SESSIONS_E2E_LOGS)
    for (const [name, a] of [
      ["entry", entry],
      ["adapter", adapter],
    ] as const)
      console.log(`--- ${name}\n${a?.output().slice(-8000)}`);
  for (const a of [entry, adapter, otherEntry]) {
    a?.proc.kill("SIGTERM");
    await a?.exited;
  }
  await sshd?.stop();
  await c?.stop();
});

describe("remote SSH sessions through the fabric", () => {
  let id: string;

  test("a command typed in the client runs on the target and its output comes back; the session is active", async () => {
    const s = await started(member);
    id = s.id;
    expect(s.offer.entry.urls).toHaveLength(1);
    expect(s.offer.entry.urls[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/rap\/v1$/);
    const t = terminal(id, s.offer);
    expect((await t.event("welcome")).transport).toBe("websocket");
    t.type("echo fabric-$((6*7))\r");
    await t.sees("fabric-42");
    await waitFor(async () => (await session(member, id)).state === "active", { timeoutMs: 20_000, what: "an active session" });
    // The shell is the target's: set a variable the reattach must still see.
    t.type("export MARK=kept-$((40+2))\r");
    await t.sees("$((40+2))");
    t.command({ close: true });
    await t.event("closed");
  });

  test("a session left detached is kept for its detached timeout, then terminated and its SSH connection closed", async () => {
    const s = await started(member);
    lingering = s.id;
    const t = terminal(s.id, s.offer);
    await t.event("welcome");
    t.type("echo lingering\r");
    await t.sees("lingering");
    const before = (sshd.log().match(/Disconnected from user/g) ?? []).length;
    t.command({ close: true });
    await t.event("closed");
    const detachedAt = Date.now();
    await waitFor(async () => (await session(member, s.id)).state === "detached", { timeoutMs: 20_000, what: "detached" });
    // Still there well inside the timeout: a reattach would find it (the reattach test does so for another session).
    expect((await session(member, s.id)).state).toBe("detached");
    lingeringCheck = (async () => {
      const ended = await waitFor(
        async () => {
          const x = await session(member, s.id);
          return x.state === "terminated" ? x : null;
        },
        { timeoutMs: (DETACHED_S + 40) * 1000, what: "the detached session terminated" },
      );
      const after = (sshd.log().match(/Disconnected from user/g) ?? []).length;
      return { ended, keptMs: Date.now() - detachedAt, closedSsh: after > before };
    })();
    // Awaited by the last test; a failure before then is reported there, not as an unhandled rejection.
    lingeringCheck.catch(() => undefined);
  });

  test("closing the client detaches; reattaching within the timeout finds the same shell", async () => {
    await waitFor(async () => (await session(member, id)).state === "detached", { timeoutMs: 20_000, what: "a detached session" });
    const re = await c.as(member, "POST", `/api/v1/remote-sessions/${id}/attach`);
    expect(re.status).toBe(200);
    const t = terminal(id, re.body);
    await t.event("welcome");
    t.type("echo mark=$MARK\r");
    await t.sees("mark=kept-42");
    await waitFor(async () => (await session(member, id)).state === "active", { timeoutMs: 20_000, what: "active again" });
    this_client = t;
  });

  test("another client of the user takes over; the first is told session.taken_over and closed", async () => {
    const refused = await c.as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/attach`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("remote_session.attached_elsewhere");
    const taken = await c.as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/takeover`);
    expect(taken.status).toBe(200);
    const second = terminal(id, taken.body);
    await second.event("welcome");
    const notice = await this_client!.event("notice");
    expect(notice.notice.type).toBe("session.taken_over");
    expect(notice.notice.error.code).toBe("session.taken_over");
    await this_client!.event("closed");
    second.type("echo second=$MARK\r");
    await second.sees("second=kept-42");
    second.command({ close: true });
    await second.event("closed");
  });

  test("refused: a replayed token, another member's session, another session's token, a malformed token; nothing changes", async () => {
    const s = await started(member);
    const first = terminal(s.id, s.offer);
    await first.event("welcome");
    // The same token again.
    const replay = terminal(s.id, s.offer);
    expect((await replay.event("refused")).error.code).toBe("data_plane.token_replayed");
    // A token for this session presented as another session's.
    const wrong = terminal(id, s.offer);
    expect((await wrong.event("refused")).error.code).toBe("data_plane.wrong_session");
    const garbage = terminal(s.id, { ...s.offer, token: "a.b.c" });
    expect((await garbage.event("refused")).error.code).toBe("data_plane.token_invalid");
    // Another member of the organization, or a member of another one, cannot attach to it, take it over, or even see it.
    for (const who of [await c.signIn("other@acme.test", PASSWORD), await c.signIn("dev@globex.test", PASSWORD)]) {
      for (const action of ["attach", "takeover", "terminate"]) expect((await c.as(who, "POST", `/api/v1/remote-sessions/${s.id}/${action}`)).status).toBe(404);
      expect((await c.as(who, "GET", `/api/v1/remote-sessions/${s.id}`)).status).toBe(404);
    }
    // The first client still works.
    first.type("echo still-$((1+1))\r");
    await first.sees("still-2");
    expect((await session(member, s.id)).controller_attachment_id).toBe(s.offer.attachment_id);
    first.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${s.id}/terminate`);
  });

  test("refused: a token at an entry point it does not name, and an expired token", async () => {
    const s = await started(member);
    // The other organization's entry point is not in the token: refused offline, before any redemption.
    const otherCert = join(otherEntryDir, `entry-certificate-${clusterId}.pem`);
    const atOther = TerminalClient.start({ urls: [otherEntryUrl], sessionId: s.id, token: s.offer.token, transport: "websocket" }, otherCert);
    expect((await atOther.event("refused")).error.code).toBe("data_plane.wrong_entry");
    // The token was not spent there: the right entry still admits it.
    const right = terminal(s.id, s.offer);
    await right.event("welcome");
    right.command({ close: true });
    await waitFor(async () => (await session(member, s.id)).state === "detached", { timeoutMs: 20_000, what: "detached" });
    // An attach offer left unused past its lifetime.
    const late = await c.as(member, "POST", `/api/v1/remote-sessions/${s.id}/attach`);
    expect(late.status).toBe(200);
    await sleep((TOKEN_TTL_S + 1) * 1000);
    const expired = terminal(s.id, late.body);
    expect((await expired.event("refused")).error.code).toBe("data_plane.token_expired");
    // Nothing changed: the attachment of that offer still controls the session (attach made it the controller).
    expect((await session(member, s.id)).controller_attachment_id).toBe(late.body.attachment_id);
    await c.as(member, "POST", `/api/v1/remote-sessions/${s.id}/terminate`);
  });

  test("the organization's admin sees sessions by pool and entry point name: no node id, address or path", async () => {
    const admin = await c.signIn("admin@acme.test", PASSWORD);
    const topology = [entryNodeId, adapterNodeId, otherEntryNodeId, "127.0.0.1:", "/rap/v1", "adapter_node", "entry_node", "route"];
    for (const path of [
      `/api/v1/remote-sessions?organization_id=${orgId}&all=true`,
      `/api/v1/remote-sessions/${id}`,
      `/api/v1/organizations/${orgId}/endpoints`,
    ]) {
      const r = await c.as(admin, "GET", path);
      expect(r.status).toBe(200);
      const text = JSON.stringify(r.body);
      for (const t of topology) expect(text).not.toContain(t);
    }
    const view = await session(admin, id);
    expect(view.egress_pool).toBe("lab");
    expect(view.entry).toEqual({ name: "sessions" });
  });

  test("terminate ends the shell: the adapter reports it and the session is terminated", async () => {
    expect((await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`)).status).toBe(200);
    await waitFor(async () => (await session(member, id)).state === "terminated", { timeoutMs: 20_000, what: "a terminated session" });
  });
});

describe("in the access portal, in Chromium", () => {
  let browser: Browser;

  let ARGS: string[];

  beforeAll(async () => {
    // WebTransport pins the entry's self-signed certificate by the hash in the offer; the WebSocket fallback is TLS, which
    // the browser accepts for this key only (a self-signed certificate has no CA a browser would know).
    const spki = createHash("sha256")
      .update(new X509Certificate(await readFile(certFile, "utf8")).publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    ARGS = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--ignore-certificate-errors-spki-list=${spki}`,
    ];
    browser = await launchBrowser({ args: ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** A new tab, signed in (each tab is its own client: the portal keeps its tokens in the tab's sessionStorage). */
  async function signedIn(query: string, context = browser.context): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${c.cp.url}/access/${query}`);
    const form = page.getByTestId("sign-in-form");
    await form.waitFor({ timeout: 30_000 });
    await form.locator("input[name=email]").fill("dev@acme.test");
    await form.locator("input[name=password]").fill(PASSWORD);
    await form.locator("button[type=submit]").click();
    return page;
  }

  async function connected(query: string): Promise<Page> {
    const page = await signedIn(query);
    await page.getByTestId("connect-lab-shell").click();
    await waitFor(async () => (await page.getByTestId("terminal-state").textContent()) === "Connected", {
      timeoutMs: 30_000,
      what: "the terminal connected",
    });
    return page;
  }

  async function typeAndSee(page: Page, command: string, want: string): Promise<void> {
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type(`${command}\n`);
    await waitFor(async () => ((await page.locator(".xterm-rows").textContent()) ?? "").includes(want), {
      timeoutMs: 20_000,
      what: `${want} on the terminal`,
    });
  }

  test("over WebTransport: typed in the browser, run on the target, shown in the terminal", async () => {
    const page = await connected("#/resources");
    expect(await page.getByTestId("terminal-transport").textContent()).toBe("WebTransport");
    await typeAndSee(page, "echo web-$((3*14))", "web-42");
    await page.close();
  });

  test("with WebTransport disabled in the page: the WebSocket fallback carries the same terminal", async () => {
    const page = await connected("?transport=websocket#/resources");
    expect(await page.getByTestId("terminal-transport").textContent()).toBe("WebSocket (fallback)");
    await typeAndSee(page, "echo fallback-$((2*21))", "fallback-42");
    const rows = (await page.locator(".xterm-rows").textContent()) ?? "";
    expect(rows).toContain("fallback-42");
    await page.close();
  });

  test("a second browser takes the session over; the first tab is told it was taken over and stops taking input", async () => {
    const first = await connected("#/resources");
    await typeAndSee(first, "export OWNER=first", "OWNER=first");
    const url = first.url();
    const id = UUID.exec(url.split("#")[1] ?? "")![0];
    const other = await launchBrowser({ args: ARGS });
    try {
      const second = await signedIn("#/sessions", other.context);
      await second.getByTestId(`reattach-${id}`).click();
      await second.getByTestId("takeover-confirm").click();
      await waitFor(async () => (await second.getByTestId("terminal-state").textContent()) === "Connected", {
        timeoutMs: 30_000,
        what: "the second browser connected",
      });
      await waitFor(async () => ((await first.getByTestId("terminal-notice").textContent()) ?? "").includes("taken over"), {
        timeoutMs: 20_000,
        what: "the first tab told it was taken over",
      });
      expect(await first.getByTestId("terminal-state").textContent()).toBe("Taken over");
      await typeAndSee(second, "echo owner=$OWNER", "owner=first");
    } finally {
      await other.close();
      await first.close();
    }
  });
});

describe("after the detached timeout", () => {
  test("the session left detached was terminated by its timer and its SSH connection closed", async () => {
    const { ended, keptMs, closedSsh } = await lingeringCheck!;
    console.log(`detached session kept ${keptMs} ms (timeout ${DETACHED_S} s)`);
    expect(ended.end_reason).toBe("detached_timeout");
    expect(keptMs).toBeGreaterThanOrEqual((DETACHED_S - 1) * 1000);
    expect(closedSsh).toBe(true);
    expect(lingering).toBe(ended.id);
  });

  test("the adapter agent is killed: its sessions fail with adapter_node_lost within the silence limit, audited", async () => {
    const s = await started(member);
    const t = terminal(s.id, s.offer);
    await t.event("welcome");
    t.type("echo before-kill\r");
    await t.sees("before-kill");
    const killedAt = Date.now();
    adapter.proc.kill("SIGKILL");
    await adapter.exited;
    const failed = await waitFor(
      async () => {
        const x = await session(member, s.id);
        return x.state === "failed" ? x : null;
      },
      { timeoutMs: 30_000, what: "a failed session" },
    );
    const tookMs = Date.now() - killedAt;
    console.log(`adapter killed: session failed ${tookMs} ms later (limit ${SILENCE_S} s + sweep)`);
    expect(failed.failure_reason).toBe("adapter_node_lost");
    const audit = await c.api("GET", `/api/v1/organizations/${orgId}/audit?action=session.fail&limit=100`);
    expect(audit.items.find((a: any) => a.target.id === s.id)?.details).toMatchObject({ state_after: "failed" });
    // Back, for afterAll to stop like the others.
    adapter = startAgent(adapterDir);
  });
});
