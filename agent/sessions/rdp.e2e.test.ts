/**
 * Remote desktops end to end with real processes: a control plane, an entry
 * agent and an rdp-worker agent (each a `rap-node-agent run` with its mesh
 * endpoint), and two real RDP server implementations started from Debian
 * packages on loopback (fixtures/rdp): FreeRDP's shadow server on Xvfb (TLS,
 * and NLA through a SAM file) and xrdp with xorgxrdp (TLS, a throw-away
 * user). Clients are the access client library in their own Bun processes
 * (fixtures/access-desktop.ts, over the WebSocket fallback) and the access
 * portal in Chromium (WebTransport), whose canvas is compared with the test
 * pattern pixel for pixel. Tiles, input, clipboard and files go client →
 * entry → mesh session streams → adapter (IronRDP) → server, spliced and
 * encoded in Rust.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { runAgent, spawnAgent, type AgentProcess } from "../../fixtures/agent-process.ts";
import { DesktopClient } from "../../fixtures/access-desktop.ts";
import { launchBrowser, type Browser } from "../../fixtures/browser.ts";
import { startShadowServer, startXrdp, type RdpServerBase, type XrdpServer } from "../../fixtures/rdp/index.ts";
import { waitFor } from "../../fixtures/wait.ts";

setDefaultTimeout(180_000);

const PASSWORD = "correct horse battery staple 9";
/** The viewer's screenshot for the docs goes to docs/screenshots/ with UPDATE_SCREENSHOTS=1, else to the test's folder. */
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1";
/** The control plane fails an adapter's sessions after this much silence (ADAPTER_SILENCE_SECONDS). */
const SILENCE_S = 3;
const isRoot = process.getuid?.() === 0;

let c: AgentCluster;
let clusterId: string;
let orgId: string;
let member: string;
let memberElsewhere: string;
let entry: AgentProcess;
let adapter: AgentProcess;
let adapterDir: string;
let certFile: string;
const servers: Record<string, RdpServerBase> = {};
const resources: Record<string, string> = {};

interface Offer {
  attachment_id: string;
  token: string;
  entry: { name: string; urls: string[]; certificate_hashes: string[] };
}

const session = async (id: string) => (await c.as(member, "GET", `/api/v1/remote-sessions/${id}`)).body;
const sessionIs = (id: string, state: string) =>
  waitFor(async () => ((await session(id)).state === state ? true : null), { timeoutMs: 30_000, what: `session ${state}` });

function startAgent(dir: string, extra: string[] = []): AgentProcess {
  return spawnAgent(["run", "--state-dir", dir, "--heartbeat-interval", "1", "--mesh-listen", "127.0.0.1:0", ...extra], {
    RAP_MESH_TICK_MS: "200",
    RAP_SESSION_ASSIGNMENT_POLL_MS: "250",
  });
}

function desktop(id: string, offer: Offer): DesktopClient {
  return DesktopClient.start({ urls: offer.entry.urls, sessionId: id, token: offer.token, transport: "websocket" }, certFile);
}

async function started(resource: string): Promise<{ id: string; offer: Offer }> {
  const r = await c.as(member, "POST", "/api/v1/remote-sessions", { resource_id: resources[resource] });
  expect(r.status).toBe(201);
  return { id: r.body.session.id, offer: r.body.attach };
}

/** A client on a new session of `resource`, its first whole frame received. */
async function connected(resource: string): Promise<{ id: string; d: DesktopClient; offer: Offer }> {
  const s = await started(resource);
  const d = desktop(s.id, s.offer);
  await d.event("welcome");
  await d.event("frame");
  return { ...s, d };
}

async function newResource(name: string, server: RdpServerBase, extra: Record<string, unknown> = {}): Promise<void> {
  resources[name] = (
    await c.api("POST", "/api/v1/resources", {
      organization_id: orgId,
      name,
      protocol: "rdp",
      target_host: server.host,
      target_port: server.port,
      egress_pool: "lab",
      host_key_fingerprint: server.certificatePin,
      detached_timeout_seconds: 600,
      secret: { username: server.username, password: server.password },
      ...extra,
    })
  ).id;
}

/** The per-session transfer folder on the adapter node (redirected to the target as RAP_Transfers). */
const transferFolder = (sessionId: string) => join(adapterDir, "transfers", clusterId, sessionId);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  c = await AgentCluster.start("rap-rdp-e2e-", { env: { ADAPTER_SILENCE_SECONDS: String(SILENCE_S) } });
  clusterId = await c.newCluster("desktops");
  orgId = (await c.api("POST", "/api/v1/organizations", { name: "Acme", slug: "acme" })).id;
  for (const [email, role] of [
    ["dev@acme.test", "org_member"],
    ["admin@acme.test", "org_admin"],
  ]) {
    await c.api("POST", `/api/v1/organizations/${orgId}/members`, { email, display_name: email, password: PASSWORD, role });
  }
  const [shadowTls, shadowNla, shadowTerm] = await Promise.all([
    startShadowServer({ security: "tls", desktop: "pattern" }),
    startShadowServer({ security: "nla", desktop: "pattern" }),
    startShadowServer({ security: "tls", desktop: "terminal" }),
  ]);
  Object.assign(servers, { shadowTls, shadowNla, shadowTerm });
  if (isRoot) {
    // xrdp's session takes the client's size: the adapter asks for 1280×800.
    const [xrdpPattern, xrdpTerm, xrdpOneWay, xrdpRefusing] = await Promise.all([
      startXrdp({ desktop: "pattern", width: 1280, height: 800 }),
      startXrdp({ desktop: "terminal", width: 1280, height: 800 }),
      startXrdp({ desktop: "terminal", width: 1280, height: 800 }),
      // Only ever reached with a wrong pin: its own server, so a refused handshake touches no other test's.
      startXrdp({ desktop: "clock", width: 1280, height: 800 }),
    ]);
    Object.assign(servers, { xrdpPattern, xrdpTerm, xrdpOneWay, xrdpRefusing });
  }
  await newResource("shadow-pattern", shadowTls, { quality_profile: "high_quality" });
  await newResource("shadow-gray", shadowTls, { quality_profile: "emergency_grayscale" });
  await newResource("shadow-balanced", shadowTls);
  await newResource("shadow-nla", shadowNla, { quality_profile: "high_quality" });
  await newResource("shadow-term", shadowTerm, { clipboard_mode: "server_to_client", file_transfer_mode: "server_to_client" });
  await newResource("shadow-wrong-pin", shadowTls, { host_key_fingerprint: shadowNla.certificatePin });
  await newResource("shadow-locked", shadowTls, { quality_profile: "text_priority", quality_adjustable: false });
  // What the docs show: the default profile, changeable, with every toolbar button the policies can give.
  await newResource("shadow-tour", shadowTls, { clipboard_mode: "bidirectional", file_transfer_mode: "bidirectional" });
  if (isRoot) {
    await newResource("xrdp-pattern", servers.xrdpPattern!, { quality_profile: "high_quality" });
    await newResource("xrdp-term", servers.xrdpTerm!, { clipboard_mode: "bidirectional", file_transfer_mode: "bidirectional" });
    await newResource("xrdp-one-way", servers.xrdpOneWay!, { clipboard_mode: "client_to_server", file_transfer_mode: "client_to_server" });
    await newResource("xrdp-wrong-pin", servers.xrdpRefusing!, { host_key_fingerprint: shadowTls.certificatePin });
  }
  const entryDir = join(c.dir, "entry");
  adapterDir = join(c.dir, "adapter");
  const entryNodeId = await c.enrollApproved(clusterId, entryDir, "entry");
  const adapterNodeId = await c.enrollApproved(clusterId, adapterDir, "adapter");
  await c.assignRole(clusterId, entryNodeId, "entry-node");
  await c.api("POST", `/api/v1/clusters/${clusterId}/nodes/${adapterNodeId}/roles`, {
    role: "rdp-worker",
    organization_id: orgId,
    policy: { egress_pool: "lab" },
  });
  entry = startAgent(entryDir, ["--entry-listen", "127.0.0.1:0", "--entry-public-host", "127.0.0.1"]);
  adapter = startAgent(adapterDir);
  await entry.waitFor('"msg":"entry listening"', 60_000);
  certFile = join(entryDir, `entry-certificate-${clusterId}.pem`);
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
  if (process.env.RDP_E2E_LOGS)
    for (const [name, a] of [
      ["entry", entry],
      ["adapter", adapter],
    ] as const)
      console.log(`--- ${name}\n${a?.output().slice(-8000)}`);
  for (const a of [entry, adapter]) {
    a?.proc.kill("SIGTERM");
    await a?.exited;
  }
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await c?.stop();
});

describe("remote desktops through the fabric (Bun clients)", () => {
  test("FreeRDP shadow over TLS with the pinned certificate: the desktop arrives as tiles covering it, the session is active", async () => {
    const { id, d } = await connected("shadow-pattern");
    const info = await d.event("desktop");
    expect(info).toMatchObject({ width: 1024, height: 768, profile: "high_quality", color_mode: "full" });
    // The first frame is a full refresh: tiles of the whole desktop, lossless in this profile.
    const frame = await d.event("frame", { where: (e) => e.pixels >= 1024 * 768 });
    expect(frame.encodings.jpeg ?? 0).toBe(0);
    await sessionIs(id, "active");
    d.command({ close: true });
    await d.event("closed");
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
  });

  test("FreeRDP shadow over NLA (CredSSP with the resource's credentials) logs on and streams the desktop", async () => {
    const { id, d } = await connected("shadow-nla");
    expect((await d.event("desktop")).width).toBe(1024);
    await sessionIs(id, "active");
    d.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
  });

  test("quality: changed at runtime when the resource allows it, refused with rdp.quality_locked when not; the adapter reports stats", async () => {
    const { id, d } = await connected("shadow-pattern");
    const stats = await d.event("stats");
    for (const k of ["fps", "bytes_per_s", "encode_ms_p95", "frames_dropped", "tiles_superseded", "rtt_ms"]) expect(typeof stats[k]).toBe("number");
    let mark = d.mark();
    d.command({ quality: { profile: "low_bandwidth", color_mode: "16" } });
    expect(await d.event("desktop", { from: mark })).toMatchObject({ profile: "low_bandwidth", color_mode: "16" });
    d.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
    const locked = await connected("shadow-locked");
    expect(await locked.d.event("desktop")).toMatchObject({ profile: "text_priority", color_mode: "256", adjustable: false });
    mark = locked.d.mark();
    locked.d.command({ quality: { profile: "high_quality" } });
    expect((await locked.d.event("notice", { from: mark })).code).toBe("rdp.quality_locked");
    // A flood of input: the excess is dropped with one notice, and the session goes on.
    locked.d.command({ keys: Array.from({ length: 1500 }, (_, i) => [0x2a, i % 2 === 0]) });
    await locked.d.event("notice", { from: mark, where: (e) => e.code === "rdp.input_flood" });
    expect((await session(locked.id)).state).toBe("active");
    locked.d.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${locked.id}/terminate`);
  });

  test("a wrong pinned certificate in strict mode is refused: the session fails with adapter.certificate_mismatch", async () => {
    const s = await started("shadow-wrong-pin");
    const failed = await waitFor(async () => ((await session(s.id)).state === "failed" ? session(s.id) : null), {
      timeoutMs: 30_000,
      what: "a failed session",
    });
    expect(failed).toMatchObject({ failure_reason: "adapter_failed", failure_code: "adapter.certificate_mismatch" });
    // The client that came with the offer is told the session ended, and why.
    const refused = await desktop(s.id, s.offer).event("refused");
    expect(refused.error).toMatchObject({ code: "remote_session.ended", details: { state: "failed", failure_code: "adapter.certificate_mismatch" } });
  });

  test("text typed in the client reaches the remote terminal (shadow server); broken input is a notice and the session goes on", async () => {
    const { id, d } = await connected("shadow-term");
    // Key presses: FreeRDP's shadow server injects scancodes (XTEST) and ignores unicode events.
    d.command({ type: "typed-on-shadow" });
    await waitFor(async () => ((await servers.shadowTerm!.typedText()).includes("typed-on-shadow") ? true : null), {
      timeoutMs: 20_000,
      what: "the typed text on the shadow server's terminal",
    });
    const mark = d.mark();
    d.command({ raw_input: "ff00" });
    expect((await d.event("notice", { from: mark })).code).toBe("protocol.malformed_input");
    d.command({ type: "-still" });
    await waitFor(async () => ((await servers.shadowTerm!.typedText()).includes("typed-on-shadow-still") ? true : null), {
      timeoutMs: 20_000,
      what: "typing after the broken batch",
    });
    expect((await session(id)).state).toBe("active");
    d.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
  });

  test("detach and reattach, then a takeover, keep the same remote desktop on the shadow server too", async () => {
    const { id, d } = await connected("shadow-term");
    d.command({ move: [400, 300] });
    d.command({ type: "one" });
    const typed = (want: string) =>
      waitFor(async () => ((await servers.shadowTerm!.typedText()).endsWith(want) ? true : null), { timeoutMs: 20_000, what: `${want} typed` });
    await typed("one");
    d.command({ close: true });
    await d.event("closed");
    await sessionIs(id, "detached");
    const re = desktop(id, (await c.as(member, "POST", `/api/v1/remote-sessions/${id}/attach`)).body);
    await re.event("frame");
    re.command({ type: "two" });
    await typed("onetwo");
    const taker = desktop(id, (await c.as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/takeover`)).body);
    await taker.event("frame");
    expect((await re.event("end")).notice.type).toBe("session.taken_over");
    taker.command({ type: "three" });
    await typed("onetwothree");
    taker.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
  });

  test("policy refusals at the adapter and the entry: an upload and a client's clipboard text the policy does not allow", async () => {
    const { id, d } = await connected("shadow-term");
    expect((await d.event("welcome")).policy).toEqual({ clipboard: "server_to_client", file_transfer: "server_to_client" });
    const mark = d.mark();
    // The client library would refuse these itself: sent as they are, the adapter refuses them.
    d.command({ raw_files: { type: "file_upload.start", transfer_id: crypto.randomUUID(), name: "nope.txt", size: 2 } });
    expect((await d.event("notice", { from: mark, where: (e) => e.channel === "file_transfer" })).code).toBe("file_transfer.direction_refused");
    // A server-to-client-only clipboard: the entry refuses the client's text and closes that transport; the session stays.
    const text = "not allowed";
    d.command({
      raw_clipboard: { type: "clipboard", sequence_id: 1, origin: "client", content_hash: createHash("sha256").update(text).digest("hex"), text },
    });
    expect((await d.event("end", { from: mark })).notice.error.code).toBe("clipboard.direction_refused");
    await sessionIs(id, "detached");
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
  });
});

describe.if(isRoot)("xrdp with xorgxrdp (a second RDP server implementation)", () => {
  let id: string;
  let first: DesktopClient;

  test("the desktop arrives; text typed reaches the remote terminal", async () => {
    const s = await connected("xrdp-term");
    id = s.id;
    first = s.d;
    expect((await first.event("desktop")).width).toBe(1280);
    // The session's desktop (a full-screen xterm) starts after the logon: typing waits for its window.
    await (servers.xrdpTerm as XrdpServer).sessionDisplay(20_000);
    first.command({ text: "xrdp-one" });
    await waitFor(async () => ((await servers.xrdpTerm!.typedText()).includes("xrdp-one") ? true : null), {
      timeoutMs: 20_000,
      what: "the typed text on xrdp's terminal",
    });
  });

  test("a wrong pinned certificate is refused by xrdp's adapter too", async () => {
    const s = await started("xrdp-wrong-pin");
    const failed = await waitFor(async () => ((await session(s.id)).state === "failed" ? session(s.id) : null), {
      timeoutMs: 30_000,
      what: "a failed session",
    });
    expect(failed.failure_code).toBe("adapter.certificate_mismatch");
  });

  test("clipboard text both ways, with its hash, and no echo back", async () => {
    first.command({ clipboard: "from-the-client 42" });
    await waitFor(async () => ((await servers.xrdpTerm!.clipboardText()) === "from-the-client 42" ? true : null), {
      timeoutMs: 20_000,
      what: "the client's text on the server's clipboard",
    });
    const mark = first.mark();
    await servers.xrdpTerm!.setClipboardText("from-the-server 7");
    const got = await first.event("clipboard", { from: mark, where: (e) => e.text === "from-the-server 7" });
    expect(got.origin).toBe("server");
    // The client's own text never came back as if the server had sent it.
    expect(first.events.filter((e) => e.event === "clipboard" && e.text === "from-the-client 42")).toHaveLength(0);
    // Over 60,000 bytes: refused with a notice, the server's clipboard unchanged.
    const big = "x".repeat(60_001);
    first.command({
      raw_clipboard: { type: "clipboard", sequence_id: 99, origin: "client", content_hash: createHash("sha256").update(big).digest("hex"), text: big },
    });
    expect((await first.event("notice", { from: mark, where: (e) => e.channel === "clipboard" })).code).toBe("clipboard.too_large");
    expect(await servers.xrdpTerm!.clipboardText()).toBe("from-the-server 7");
  });

  test("a file uploaded lands in the session's transfer folder with its hash; one put in ToClient downloads intact", async () => {
    const bytes = new Uint8Array(700_000).map((_, i) => (i * 31 + 7) & 255);
    const mark = first.mark();
    first.command({ upload: { name: "report.bin", base64: Buffer.from(bytes).toString("base64") } });
    const up = await first.event("uploaded", { from: mark });
    expect(up).toMatchObject({ name: "report.bin", size: bytes.length, sha256: sha256(bytes) });
    expect(sha256(await readFile(join(transferFolder(id), "report.bin")))).toBe(sha256(bytes));
    const out = new TextEncoder().encode("for the client\n".repeat(1000));
    await mkdir(join(transferFolder(id), "ToClient"), { recursive: true });
    await writeFile(join(transferFolder(id), "ToClient", "notes.txt"), out);
    first.command({ list: true });
    expect((await first.event("files", { from: mark })).files).toContainEqual({ name: "notes.txt", size: out.length });
    first.command({ download: "notes.txt" });
    expect(await first.event("downloaded", { from: mark })).toMatchObject({ name: "notes.txt", size: out.length, sha256: sha256(out) });
  });

  test("refused files: a name with a path separator, over 25 MiB, a missing download; nothing is written", async () => {
    const mark = first.mark();
    first.command({ raw_files: { type: "file_upload.start", transfer_id: crypto.randomUUID(), name: "../escape.txt", size: 1 } });
    expect((await first.event("notice", { from: mark, where: (e) => e.channel === "file_transfer" })).code).toBe("file_transfer.name_invalid");
    first.command({ raw_files: { type: "file_upload.start", transfer_id: crypto.randomUUID(), name: "huge.bin", size: 26 * 1024 * 1024 } });
    expect((await first.event("notice", { from: mark, where: (e) => e.code === "file_upload.too_large" })).channel).toBe("file_transfer");
    first.command({ download: "not-there.txt" });
    expect((await first.event("failed", { from: mark, where: (e) => e.what === "download" })).code).toBe("file_download.not_found");
    await expect(stat(join(transferFolder(id), "..", "escape.txt"))).rejects.toThrow();
  });

  test("detach and reattach resume the same remote session", async () => {
    first.command({ close: true });
    await first.event("closed");
    await sessionIs(id, "detached");
    const re = await c.as(member, "POST", `/api/v1/remote-sessions/${id}/attach`);
    expect(re.status).toBe(200);
    const again = desktop(id, re.body);
    await again.event("frame");
    again.command({ text: "-two" });
    // The same shell got both: the RDP connection (and its logon) outlived the client.
    await waitFor(async () => ((await servers.xrdpTerm!.typedText()).includes("xrdp-one-two") ? true : null), {
      timeoutMs: 20_000,
      what: "typing after reattach into the same terminal",
    });
    await sessionIs(id, "active");
    first = again;
  });

  test("another client takes over: the first is told session.taken_over; the new one drives the same desktop", async () => {
    const taken = await c.as(memberElsewhere, "POST", `/api/v1/remote-sessions/${id}/takeover`);
    expect(taken.status).toBe(200);
    const second = desktop(id, taken.body);
    await second.event("frame");
    expect((await first.event("end")).notice.type).toBe("session.taken_over");
    second.command({ text: "-three" });
    await waitFor(async () => ((await servers.xrdpTerm!.typedText()).includes("xrdp-one-two-three") ? true : null), {
      timeoutMs: 20_000,
      what: "typing after takeover",
    });
    second.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${id}/terminate`);
    await sessionIs(id, "terminated");
    // Its transfer folder goes with it.
    await waitFor(async () => ((await stat(transferFolder(id)).catch(() => null)) === null ? true : null), {
      timeoutMs: 10_000,
      what: "the transfer folder removed",
    });
  });

  test("one-way policies: server text does not reach a client_to_server clipboard; downloads are refused", async () => {
    const { id: oneWay, d } = await connected("xrdp-one-way");
    d.command({ clipboard: "up only" });
    await waitFor(async () => ((await servers.xrdpOneWay!.clipboardText()) === "up only" ? true : null), {
      timeoutMs: 20_000,
      what: "the client's text on the server",
    });
    const mark = d.mark();
    await servers.xrdpOneWay!.setClipboardText("must not reach the client");
    d.command({ list: true });
    expect((await d.event("failed", { from: mark, where: (e) => e.what === "list" })).code).toBe("file_transfer.direction_refused");
    // The list's refusal came after the server's clipboard change on the same adapter: had the text been sent, it would be here.
    d.command({ counters: true });
    await d.event("counters", { from: mark });
    expect(d.events.slice(mark).filter((e) => e.event === "clipboard")).toHaveLength(0);
    // xrdp offers the display-control channel (the desktop says resizable); whether xrdp 0.9.21 then resizes an xorgxrdp
    // session is not shown here: it did not within 30 s (docs/remote-desktop.md, "Not built yet").
    await d.event("desktop", { where: (e) => e.resizable === true });
    d.command({ close: true });
    await c.as(member, "POST", `/api/v1/remote-sessions/${oneWay}/terminate`);
  });
});

describe("in the access portal, in Chromium", () => {
  let browser: Browser;

  beforeAll(async () => {
    const spki = createHash("sha256")
      .update(new X509Certificate(await readFile(certFile, "utf8")).publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    browser = await launchBrowser({
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", `--ignore-certificate-errors-spki-list=${spki}`],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function opened(resource: string): Promise<Page> {
    // Each tab signs in for itself (the portal keeps its tokens in the tab's sessionStorage); 1440×960 shows a desktop at 1:1.
    const page = await browser.context.newPage();
    await page.goto(`${c.cp.url}/access/#/resources`);
    const form = page.getByTestId("sign-in-form");
    await form.waitFor({ timeout: 30_000 });
    await form.locator("input[name=email]").fill("dev@acme.test");
    await form.locator("input[name=password]").fill(PASSWORD);
    await form.locator("button[type=submit]").click();
    await page.getByTestId(`connect-${resource}`).click();
    await waitFor(async () => (await page.getByTestId("terminal-state").textContent()) === "Connected", {
      timeoutMs: 30_000,
      what: "the desktop connected",
    });
    return page;
  }

  /** The canvas as the user sees it, compared in the page with `expected` (RGBA): the largest channel difference, and whether every pixel is gray. */
  async function compare(page: Page, expected: Uint8Array, width: number, height: number): Promise<Comparison> {
    // The stats overlay sits on the desktop's corner: out of the picture for the comparison.
    await page.getByTestId("desktop-stats").evaluate((el) => {
      (el as HTMLElement).style.visibility = "hidden";
    });
    const shot = await page.getByTestId("desktop-canvas").screenshot();
    return page.evaluate(
      async ([png, want, w, h]) => {
        const bytes = Uint8Array.from(atob(png as string), (ch) => ch.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
        const size = `${bitmap.width}x${bitmap.height}`;
        // The element's box may be rounded up a pixel (a border row): the desktop is the w×h at the offset that matches best (on average).
        const W = w as number;
        const H = h as number;
        if (bitmap.width < W || bitmap.height < H) return { maxDiff: 255, meanDiff: 255, gray: false, size };
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext("2d")!;
        ctx.drawImage(bitmap, 0, 0);
        const exp = Uint8Array.from(atob(want as string), (ch) => ch.charCodeAt(0));
        let best = { maxDiff: 256, meanDiff: 256, gray: false, size, first: "" };
        for (let dy = 0; dy <= Math.min(2, bitmap.height - H); dy++) {
          for (let dx = 0; dx <= Math.min(2, bitmap.width - W); dx++) {
            const got = ctx.getImageData(dx, dy, W, H).data;
            let maxDiff = 0;
            let sum = 0;
            let gray = true;
            let first = "";
            for (let i = 0; i < got.length; i += 4) {
              for (let k = 0; k < 3; k++) {
                const d = Math.abs(got[i + k]! - exp[i + k]!);
                sum += d;
                if (d > maxDiff) {
                  maxDiff = d;
                  const p = i / 4;
                  first = `offset ${dx},${dy}, at ${p % W},${Math.floor(p / W)}: ${[...got.slice(i, i + 3)]} vs ${[...exp.slice(i, i + 3)]}`;
                }
              }
              if (got[i] !== got[i + 1] || got[i + 1] !== got[i + 2]) gray = false;
            }
            const meanDiff = sum / (W * H * 3);
            if (meanDiff < best.meanDiff) best = { maxDiff, meanDiff, gray, size, first };
          }
        }
        return best;
      },
      [shot.toString("base64"), Buffer.from(expected).toString("base64"), width, height] as const,
    );
  }

  async function showsPattern(resource: string, server: RdpServerBase, tolerance: number): Promise<Comparison> {
    const page = await opened(resource);
    let last: Comparison = { maxDiff: 255, meanDiff: 255, gray: false, size: "" };
    await waitFor(
      async () => {
        last = await compare(page, server.pattern.data, server.width, server.height);
        return last.maxDiff <= tolerance ? true : null;
      },
      { timeoutMs: 30_000, stepMs: 1000, what: "the test pattern on the canvas" },
    ).catch(async (err) => {
      await page.screenshot({ path: join(c.dir, `${resource}.png`) });
      throw new Error(`${err.message}; last comparison ${JSON.stringify(last)}; page text: ${(await page.locator("body").textContent())?.slice(0, 500)}`);
    });
    await page.close();
    return last;
  }

  test("over WebTransport the shadow server's test pattern is shown pixel for pixel (high_quality, lossless)", async () => {
    expect((await showsPattern("shadow-pattern", servers.shadowTls!, 0)).maxDiff).toBe(0);
  });

  test.if(isRoot)("xrdp's test pattern is shown pixel for pixel too", async () => {
    expect((await showsPattern("xrdp-pattern", servers.xrdpPattern!, 0)).maxDiff).toBe(0);
  });

  test("balanced (lossy for busy tiles) shows the pattern within a stated tolerance: on average within 2 levels per channel", async () => {
    const page = await opened("shadow-balanced");
    let last: Comparison = { maxDiff: 255, meanDiff: 255, gray: false, size: "" };
    await waitFor(
      async () => {
        last = await compare(page, servers.shadowTls!.pattern.data, 1024, 768);
        return last.meanDiff <= 2 ? true : null;
      },
      { timeoutMs: 30_000, what: "the pattern within the lossy tolerance" },
    ).catch((err) => {
      throw new Error(`${err.message}; last comparison ${JSON.stringify(last)}`);
    });
    console.log(`balanced: mean difference ${last.meanDiff.toFixed(3)}, largest ${last.maxDiff} (JPEG q85 on busy tiles only)`);
    await page.close();
  });

  test("the viewer as a user sees it: the desktop, the toolbar the policies allow and the stats overlay (docs/screenshots/access-desktop.png)", async () => {
    const page = await opened("shadow-tour");
    for (const id of ["ctrl-alt-del", "quality-profile", "quality-color", "clipboard-toggle", "upload", "downloads", "detach"])
      expect(await page.getByTestId(id).isVisible(), id).toBe(true);
    await waitFor(async () => ((await compare(page, servers.shadowTls!.pattern.data, 1024, 768)).meanDiff <= 2 ? true : null), {
      timeoutMs: 30_000,
      stepMs: 1000,
      what: "the pattern on the canvas",
    });
    // compare() hid the overlay; the picture shows it once the adapter's stats have named the profile.
    await page.getByTestId("desktop-stats").evaluate((el) => {
      (el as HTMLElement).style.visibility = "visible";
    });
    await waitFor(async () => ((await page.getByTestId("desktop-stats").textContent())?.includes("Balanced, Full colour") ? true : null), {
      timeoutMs: 15_000,
      what: "the stats overlay with the adapter's profile",
    });
    expect(await page.getByTestId("terminal-resource").textContent()).toBe("shadow-tour");
    const html = await page.content();
    for (const hidden of [`${servers.shadowTls!.host}:${servers.shadowTls!.port}`, adapterDir]) expect(html).not.toContain(hidden);
    const shots = UPDATE_SCREENSHOTS ? join(import.meta.dirname, "../../docs/screenshots") : join(c.dir, "screenshots");
    await mkdir(shots, { recursive: true });
    await page.screenshot({ path: join(shots, "access-desktop.png") });
    await page.close();
  });

  test("emergency_grayscale is really grayscale, and close to the pattern's luma", async () => {
    const page = await opened("shadow-gray");
    const gray = testPatternGray(servers.shadowTls!.pattern.data);
    let last: Comparison = { maxDiff: 255, meanDiff: 255, gray: false, size: "" };
    await waitFor(
      async () => {
        last = await compare(page, gray, 1024, 768);
        // Lossy (gray JPEG q40 on busy tiles): every pixel gray, and on average within 8 levels of the pattern's luma.
        return last.gray && last.meanDiff <= 8 ? true : null;
      },
      { timeoutMs: 30_000, stepMs: 1000, what: "a gray picture close to the pattern's luma" },
    ).catch((err) => {
      throw new Error(`${err.message}; last comparison ${JSON.stringify(last)}`);
    });
    await page.close();
  });
});

interface Comparison {
  maxDiff: number;
  meanDiff: number;
  gray: boolean;
  size: string;
  first?: string;
}

/** The pattern as BT.601 luma (what the grayscale mode shows, before its lossy encoding). */
function testPatternGray(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const y = Math.round(0.299 * rgba[i]! + 0.587 * rgba[i + 1]! + 0.114 * rgba[i + 2]!);
    out[i] = out[i + 1] = out[i + 2] = y;
    out[i + 3] = 255;
  }
  return out;
}

describe("the worker goes", () => {
  test("killing the rdp-worker agent fails its sessions with adapter_node_lost", async () => {
    const { id, d } = await connected("shadow-pattern");
    adapter.proc.kill("SIGKILL");
    await adapter.exited;
    const failed = await waitFor(async () => ((await session(id)).state === "failed" ? session(id) : null), {
      timeoutMs: 30_000,
      what: "a failed session",
    });
    expect(failed.failure_reason).toBe("adapter_node_lost");
    d.kill();
    adapter = startAgent(adapterDir);
  });
});
