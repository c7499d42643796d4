/**
 * Remote SSH sessions end to end with real processes: a control plane, an
 * entry agent and an ssh-worker agent (each a `rap-node-agent run` with its
 * mesh endpoint), a real `sshd` on loopback with throw-away keys, and
 * terminal clients on the access client library (each its own Bun process,
 * over the WebSocket fallback: Bun has no WebTransport; the browser suite
 * covers WebTransport). Keystrokes go client → entry → mesh session stream →
 * adapter → sshd and back, spliced in Rust.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
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
/** The control plane fails an adapter's sessions after this much silence (ADAPTER_SILENCE_SECONDS). */
const SILENCE_S = 3;

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
let adapter: AgentProcess;
let adapterNodeId: string;
let certFile: string;
/** The client attached in the reattach test, which the takeover test expects to be told. */
let this_client: TerminalClient | undefined;

interface Offer {
  attachment_id: string;
  token: string;
  entry: { name: string; urls: string[]; certificate_hashes: string[] };
}

async function as(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${c.cp.url}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function signIn(email: string): Promise<string> {
  const res = await fetch(`${c.cp.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const session = async (token: string, id: string) => (await as(token, "GET", `/api/v1/remote-sessions/${id}`)).body;

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
  const r = await as(token, "POST", "/api/v1/remote-sessions", { resource_id: resourceId });
  expect(r.status).toBe(201);
  return { id: r.body.session.id, offer: r.body.attach };
}

beforeAll(async () => {
  c = await AgentCluster.start("rap-sessions-e2e-", { env: { ADAPTER_SILENCE_SECONDS: String(SILENCE_S) } });
  clusterId = await c.newCluster("sessions");
  sshd = await startSshd();
  orgId = (await c.api("POST", "/api/v1/organizations", { name: "Acme", slug: "acme" })).id;
  for (const email of ["dev@acme.test", "other@acme.test"]) {
    await c.api("POST", `/api/v1/organizations/${orgId}/members`, { email, display_name: email, password: PASSWORD, role: "org_member" });
  }
  resourceId = (
    await c.api("POST", "/api/v1/resources", {
      organization_id: orgId,
      name: "lab-shell",
      protocol: "ssh",
      target_host: "127.0.0.1",
      target_port: sshd.port,
      egress_pool: "lab",
      host_key_fingerprint: sshd.hostKeyFingerprint,
      detached_timeout_seconds: 60,
      secret: { username: sshd.username, private_key: sshd.userKey },
    })
  ).id;
  entryDir = join(c.dir, "entry");
  adapterDir = join(c.dir, "adapter");
  const entryNodeId = await c.enrollApproved(clusterId, entryDir, "entry");
  adapterNodeId = await c.enrollApproved(clusterId, adapterDir, "adapter");
  await c.assignRole(clusterId, entryNodeId, "entry-node");
  await c.api("POST", `/api/v1/clusters/${clusterId}/nodes/${adapterNodeId}/roles`, {
    role: "ssh-worker",
    organization_id: orgId,
    policy: { egress_pool: "lab" },
  });
  entry = startAgent(entryDir, {}, ["--entry-listen", "127.0.0.1:0", "--entry-public-host", "127.0.0.1"]);
  adapter = startAgent(adapterDir);
  await entry.waitFor('"msg":"entry listening"', 60_000);
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
  member = await signIn("dev@acme.test");
  memberElsewhere = await signIn("dev@acme.test");
});

afterAll(async () => {
  if (process.env.SESSIONS_E2E_LOGS)
    for (const [name, a] of [
      ["entry", entry],
      ["adapter", adapter],
    ] as const)
      console.log(`--- ${name}\n${a?.output().slice(-8000)}`);
  for (const a of [entry, adapter]) {
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

  test("closing the client detaches; reattaching within the timeout finds the same shell", async () => {
    await waitFor(async () => (await session(member, id)).state === "detached", { timeoutMs: 20_000, what: "a detached session" });
    const re = await as(member, "POST", `/api/v1/remote-sessions/${id}/attach`);
    expect(re.status).toBe(200);
    const t = terminal(id, re.body);
    await t.event("welcome");
    t.type("echo mark=$MARK\r");
    await t.sees("mark=kept-42");
    await waitFor(async () => (await session(member, id)).state === "active", { timeoutMs: 20_000, what: "active again" });
    this_client = t;
  });

  test("another client of the user takes over; the first is told session.taken_over and closed", async () => {
    const refused = await as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/attach`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("remote_session.attached_elsewhere");
    const taken = await as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/takeover`);
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
    // Another member of the organization cannot attach to it, or even see it.
    const other = await signIn("other@acme.test");
    expect((await as(other, "POST", `/api/v1/remote-sessions/${s.id}/attach`)).status).toBe(404);
    // The first client still works.
    first.type("echo still-$((1+1))\r");
    await first.sees("still-2");
    expect((await session(member, s.id)).controller_attachment_id).toBe(s.offer.attachment_id);
    first.command({ close: true });
    await as(member, "POST", `/api/v1/remote-sessions/${s.id}/terminate`);
  });

  test("terminate ends the shell: the adapter reports it and the session is terminated", async () => {
    expect((await as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`)).status).toBe(200);
    await waitFor(async () => (await session(member, id)).state === "terminated", { timeoutMs: 20_000, what: "a terminated session" });
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
    // Back for the next tests, once the entry has a live channel to the new process (the old one ends on its heartbeat timeout).
    adapter = startAgent(adapterDir);
    await adapter.waitFor('"msg":"mesh channel established"', 60_000);
  });
});

describe("in the access portal, in Chromium", () => {
  let browser: Browser;

  beforeAll(async () => {
    // WebTransport pins the entry's self-signed certificate by the hash in the offer; the WebSocket fallback is TLS, which
    // the browser accepts for this key only (a self-signed certificate has no CA a browser would know).
    const spki = createHash("sha256")
      .update(new X509Certificate(await readFile(certFile, "utf8")).publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    browser = await launchBrowser({
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        `--ignore-certificate-errors-spki-list=${spki}`,
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function connected(query: string): Promise<Page> {
    const page = await browser.context.newPage();
    await page.goto(`${c.cp.url}/access/${query}`);
    // Each tab signs in (the portal keeps its tokens in the tab's sessionStorage).
    const form = page.getByTestId("sign-in-form");
    await form.waitFor({ timeout: 30_000 });
    await form.locator("input[name=email]").fill("dev@acme.test");
    await form.locator("input[name=password]").fill(PASSWORD);
    await form.locator("button[type=submit]").click();
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
});
