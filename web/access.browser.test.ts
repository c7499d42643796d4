/**
 * The access portal in headless Chromium against a real control-plane
 * process: an organization member signs in, sees only the resources they may
 * connect to, starts a session and reaches the point where the page calls the
 * data-plane client's `Connect` (web/access/connect.ts, a placeholder until the
 * client library is integrated: the page must show its error clearly), with
 * WebTransport disabled through the URL option or the checkbox; "My sessions"
 * lists the session and terminates it; a second browser of the same user
 * finds a session attached on another device, gets the takeover prompt and
 * takes it over (200). Placement needs nodes: an entry node and an
 * ssh-worker of the egress pool are enrolled through the real API with real
 * keys (fixtures/http-nodes.ts), and the test reports what the adapter would.
 * No page shows a node, an address or a path. Screenshots go to a temporary
 * folder, or to docs/screenshots/ with UPDATE_SCREENSHOTS=1.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { apiCall } from "../fixtures/api-client.ts";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page, Response as PageResponse } from "playwright-core";
import { AgentCluster } from "../fixtures/agent-cluster.ts";
import { launchBrowser, type Browser, waitText } from "../fixtures/browser.ts";
import { enrollOverHttp, type HttpNode } from "../fixtures/http-nodes.ts";
import { freePort } from "../fixtures/process.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(90_000);

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1";
let SHOTS = join(import.meta.dirname, "../docs/screenshots");
const MEMBER = { email: "member@acme.example", password: "acme member passphrase" };
const VIEWER = { email: "viewer@acme.example", password: "acme viewer passphrase" };
const TARGET_HOST = "10.77.0.22";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let c: AgentCluster;
let browser: Browser;
let second: Browser | undefined;
let page: Page;
let clusterId = "";
let orgId = "";
let adapter: HttpNode;
let entry: HttpNode;
/** A second location whose entry node has not published where clients connect (its agent is not serving yet). */
let parisNodes: HttpNode[] = [];
let entryUrl = "";
let heartbeats: ReturnType<typeof setInterval> | undefined;
/** The member's own API client: another sign-in session of the same user, i.e. "another device". */
let phoneToken = "";
const problems: string[] = [];

function api<T = Record<string, any>>(method: string, path: string, body?: unknown, token = c.token): Promise<T> {
  return apiCall<T>(c.cp.url, method, path, body, token);
}

async function report(sessionId: string, type: "adapter.started" | "adapter.ended"): Promise<void> {
  const res = await adapter.agent("POST", `/sessions/${sessionId}/events`, { type });
  expect(res.status).toBe(200);
}

async function sessionOf(id: string) {
  return api(`GET`, `/remote-sessions/${id}`, undefined, phoneToken);
}

/** What an end user must never see: nodes (ids, names), the cluster id, the target's and the entry's addresses, paths. */
const topology = () => [
  adapter.nodeId,
  entry.nodeId,
  adapter.name,
  entry.name,
  clusterId,
  TARGET_HOST,
  entryUrl,
  new URL(entryUrl).host,
  "127.0.0.1",
  "/rap/v1",
];

async function expectNoTopology(p: Page): Promise<void> {
  const html = await p.content();
  for (const secret of topology()) expect(html).not.toContain(secret);
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function watch(b: Browser): void {
  b.context.on("request", (r) => {
    if (!r.url().startsWith(`${c.cp.url}/`)) problems.push(`request to ${r.url()}`);
  });
  b.context.on("page", (p) => {
    p.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    p.on("console", (m) => {
      if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });
}

async function signIn(p: Page, who = MEMBER): Promise<void> {
  await p.goto(`${c.cp.url}/access/`);
  const form = p.getByTestId("sign-in-form");
  await form.locator("input[name=email]").fill(who.email);
  await form.locator("input[name=password]").fill(who.password);
  await form.locator("button[type=submit]").click();
  await waitText(p.getByTestId("who"), who.email);
}

/**
 * Clicks Connect on db-1 and answers the new session's id once the terminal
 * page shows the connect error: this suite's entry published a URL nobody
 * listens on (agent/sessions/sessions.e2e.test.ts connects through real ones).
 */
async function connectDb1(p: Page): Promise<string> {
  await p.getByTestId("connect-db-1").click();
  await p.waitForURL(/#\/terminal\/[0-9a-f-]{36}$/);
  const id = UUID.exec(p.url().split("#")[1]!)![0];
  await waitText(p.getByTestId("connect-error"), "Could not connect through Frankfurt.", 40_000);
  return id;
}

/** The page detaches an attachment whose connection never happened, so the session is kept for its timeout. */
async function waitDetached(id: string): Promise<void> {
  await waitFor(
    async () => {
      const s = await sessionOf(id);
      return s.attachments.every((a: { state: string }) => a.state !== "attached");
    },
    { timeoutMs: 10_000, what: "the page's detach" },
  );
}

beforeAll(async () => {
  // Its adapter is a node registered over HTTP that never reads its assignments: keep its sessions anyway.
  c = await AgentCluster.start("rap-access-browser-", { env: { ADAPTER_SILENCE_SECONDS: "600" } });
  if (!UPDATE_SCREENSHOTS) SHOTS = join(c.dir, "screenshots");
  await mkdir(SHOTS, { recursive: true });
  browser = await launchBrowser();
  watch(browser);

  orgId = (await api("POST", "/organizations", { name: "Acme", slug: "acme" })).id;
  const globex = (await api("POST", "/organizations", { name: "Globex", slug: "globex" })).id;
  await api("POST", `/organizations/${orgId}/members`, { email: MEMBER.email, display_name: "Mia Member", password: MEMBER.password, role: "org_member" });
  await api("POST", `/organizations/${orgId}/members`, { email: VIEWER.email, display_name: "Vic Viewer", password: VIEWER.password, role: "org_viewer" });
  const resource = (organization_id: string, name: string, protocol: string, port: number) =>
    api("POST", "/resources", { organization_id, name, protocol, target_host: TARGET_HOST, target_port: port, egress_pool: "office-moscow" });
  await resource(orgId, "db-1", "ssh", 22);
  await resource(orgId, "desk", "rdp", 3389);
  await resource(globex, "globex-db", "ssh", 22);
  await api("POST", "/resources", {
    organization_id: orgId,
    name: "db-paris",
    protocol: "ssh",
    target_host: TARGET_HOST,
    target_port: 22,
    egress_pool: "office-paris",
  });

  clusterId = (await api("POST", "/clusters", { name: "Frankfurt", slug: "fra" })).id;
  adapter = await enrollOverHttp(c.cp.url, c.token, clusterId, "ssh-1", { can_route_mesh: true, can_run_ssh_worker: true });
  entry = await enrollOverHttp(c.cp.url, c.token, clusterId, "entry-1", { can_route_mesh: true, can_accept_client_ingress: true });
  await api("POST", `/clusters/${clusterId}/nodes/${adapter.nodeId}/roles`, {
    role: "ssh-worker",
    organization_id: orgId,
    policy: { egress_pool: "office-moscow" },
  });
  await api("POST", `/clusters/${clusterId}/nodes/${entry.nodeId}/roles`, { role: "entry-node", organization_id: orgId });
  const paris = (await api("POST", "/clusters", { name: "Paris", slug: "par" })).id;
  parisNodes = [
    await enrollOverHttp(c.cp.url, c.token, paris, "ssh-par-1", { can_route_mesh: true, can_run_ssh_worker: true }),
    await enrollOverHttp(c.cp.url, c.token, paris, "entry-par-1", { can_route_mesh: true, can_accept_client_ingress: true }),
  ];
  await api("POST", `/clusters/${paris}/nodes/${parisNodes[0]!.nodeId}/roles`, {
    role: "ssh-worker",
    organization_id: orgId,
    policy: { egress_pool: "office-paris" },
  });
  await api("POST", `/clusters/${paris}/nodes/${parisNodes[1]!.nodeId}/roles`, { role: "entry-node", organization_id: orgId });
  // Where clients would connect: a loopback port nothing listens on (the placeholder seam never dials it).
  entryUrl = `https://127.0.0.1:${await freePort()}/rap/v1`;
  expect((await entry.agent("PUT", "/entry-endpoint", { urls: [entryUrl], certificate_hashes: ["ab".repeat(32)] })).status).toBe(200);
  // Both nodes stay healthy while the test runs, as running agents would keep them.
  let seq = 0;
  const beat = async () => {
    seq++;
    for (const n of [adapter, entry, ...parisNodes]) await n.agent("POST", "/heartbeat", { seq }).catch(() => undefined);
  };
  await beat();
  heartbeats = setInterval(() => void beat(), 10_000);

  phoneToken = (await api("POST", "/auth/login", { ...MEMBER, device_id: "phone-of-mia-member" })).access_token;
  page = await browser.context.newPage();
});

afterAll(async () => {
  clearInterval(heartbeats);
  await second?.close();
  await browser?.close();
  await c?.stop();
});

describe("access portal", () => {
  test("an organization member signs in and sees only the resources they may connect to", async () => {
    await signIn(page);
    await waitText(page.getByTestId("resources"), "db-1");
    const list = await page.getByTestId("resources").textContent();
    expect(list).toContain("Terminal (SSH)");
    expect(list).toContain("office-moscow");
    expect(list).toContain("Desktop (RDP)");
    expect(list).not.toContain("globex-db");
    expect(await page.getByTestId("org-name").textContent()).toBe("Acme");
    await expectNoTopology(page);
    await shot(page, "access-resources");
  });

  test("a viewer, who may read resources but not connect, is told so and offered nothing", async () => {
    // Another tab of the same browser: sign-ins live in the tab's sessionStorage.
    const v = await browser.context.newPage();
    await signIn(v, VIEWER);
    expect(await waitText(v.getByTestId("no-org"), "may not connect")).toBe("Your account may not connect to resources in any organization.");
    expect(await v.locator("[data-testid^=connect-]").count()).toBe(0);
    // What is left is the account page, to set up two-factor or sign out.
    await v.getByTestId("sign-out").click();
    await v.getByTestId("sign-in-form").waitFor();
    await v.close();
  });

  test("Connect starts a session and opens its terminal, which says clearly that the entry point could not be reached", async () => {
    const id = await connectDb1(page);
    expect(await page.getByTestId("connect-error").textContent()).toContain("Could not connect through Frankfurt.");
    expect(await page.getByTestId("terminal-resource").textContent()).toBe("db-1");
    expect(await page.getByTestId("terminal-entry").textContent()).toBe("Frankfurt");
    expect(await page.getByTestId("terminal-state").textContent()).toBe("Not connected");
    expect(await page.getByTestId("terminal-transport").textContent()).toBe("WebTransport, or WebSocket as fallback");
    // xterm.js fills the window under the strict CSP: its styles live in constructed stylesheets, no <style> element.
    const box = await page.locator(".xterm-screen").boundingBox();
    expect(box!.height).toBeGreaterThan(400);
    const styles = await page.evaluate(() => ({
      elements: document.querySelectorAll("style").length,
      adopted: document.adoptedStyleSheets.flatMap((s) => [...s.cssRules].map((r) => r.cssText)).join("\n"),
    }));
    expect(styles.elements).toBe(0);
    expect(styles.adopted).toContain(".xterm-rows");
    const s = await sessionOf(id);
    expect(s).toMatchObject({ resource_name: "db-1", state: "starting", entry: { name: "Frankfurt" }, egress_pool: "office-moscow" });
    await waitDetached(id);
    await expectNoTopology(page);
    await shot(page, "access-terminal");
    await api("POST", `/remote-sessions/${id}/terminate`, undefined, phoneToken);
  });

  test("an entry point that has not published where to connect is named, and the page does not try", async () => {
    await page.goto(`${c.cp.url}/access/#/resources`);
    await page.getByTestId("connect-db-paris").click();
    await page.waitForURL(/#\/terminal\/[0-9a-f-]{36}$/);
    const id = UUID.exec(page.url().split("#")[1]!)![0];
    const error = await waitText(page.getByTestId("connect-error"), "has not published");
    expect(error).toContain("Could not connect through Paris.");
    expect(error).not.toContain("data-plane client not built yet");
    await waitDetached(id);
    await api("POST", `/remote-sessions/${id}/terminate`, undefined, phoneToken);
  });

  test("WebTransport can be disabled in the page: the URL option or the checkbox asks for WebSocket only", async () => {
    await page.goto(`${c.cp.url}/access/?transport=websocket#/resources`);
    const box = page.getByTestId("use-websocket");
    await box.waitFor();
    expect(await box.isChecked()).toBe(true);
    expect(await box.isDisabled()).toBe(true);
    const byUrl = await connectDb1(page);
    expect(await page.getByTestId("terminal-transport").textContent()).toBe("WebSocket only (requested)");

    await page.goto(`${c.cp.url}/access/#/resources`);
    await box.waitFor();
    expect(await box.isChecked()).toBe(false);
    await box.check();
    const byBox = await connectDb1(page);
    expect(await page.getByTestId("terminal-transport").textContent()).toBe("WebSocket only (requested)");
    await page.goto(`${c.cp.url}/access/#/resources`);
    await box.uncheck();
    for (const id of [byUrl, byBox]) {
      await waitDetached(id);
      await api("POST", `/remote-sessions/${id}/terminate`, undefined, phoneToken);
    }
  });

  test("My sessions lists a detached session with its entry point, and Terminate ends it", async () => {
    await page.goto(`${c.cp.url}/access/#/resources`);
    const id = await connectDb1(page);
    await waitDetached(id);
    await report(id, "adapter.started");
    expect((await sessionOf(id)).state).toBe("detached");
    // The terminal covers the window; its status line leads back.
    await page.getByTestId("back-to-sessions").click();
    const row = page.locator(`[data-testid=sessions] tr[data-row="${id}"]`);
    const text = await waitText(row, "detached");
    expect(text).toContain("db-1");
    expect(text).toContain("Frankfurt");
    expect(await page.locator("[data-testid=sessions] tbody tr").count()).toBe(1);
    await expectNoTopology(page);
    await shot(page, "access-sessions");

    await page.getByTestId(`terminate-${id}`).click();
    await page.getByTestId("terminate-dialog").waitFor();
    await page.getByTestId("terminate-confirm").click();
    await waitText(page.getByTestId("sessions"), "No open sessions");
    expect(await sessionOf(id)).toMatchObject({ state: "terminating", end_reason: "user" });
    await report(id, "adapter.ended");
    expect((await sessionOf(id)).state).toBe("terminated");
  });

  test("a second browser of the same user gets the takeover prompt for a session open elsewhere, and takes it over", async () => {
    await page.goto(`${c.cp.url}/access/#/resources`);
    const id = await connectDb1(page);
    await waitDetached(id);
    await report(id, "adapter.started");
    // The member's phone attaches: the session is now open on another device.
    const phone = await api<{ attachment_id: string }>("POST", `/remote-sessions/${id}/attach`, undefined, phoneToken);
    expect((await sessionOf(id)).state).toBe("active");

    second = await launchBrowser();
    watch(second);
    const b = await second.context.newPage();
    await signIn(b);
    await b.locator("nav a[href='#/sessions']").click();
    await waitText(b.locator(`[data-testid=sessions] tr[data-row="${id}"]`), "attached");

    // Declining leaves the session where it is.
    await b.getByTestId(`reattach-${id}`).click();
    const dialog = b.getByTestId("takeover-dialog");
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("This session is open on another device. Take it over?");
    await shot(b, "access-takeover");
    await b.getByTestId("takeover-cancel").click();
    await dialog.waitFor({ state: "detached" });
    expect(b.url()).toEndWith("#/sessions");
    const held = await sessionOf(id);
    expect(held.attachments.find((a: { id: string }) => a.id === phone.attachment_id).state).toBe("attached");

    await b.getByTestId(`reattach-${id}`).click();
    await dialog.waitFor();
    const takeover = b.waitForResponse((r: PageResponse) => r.url().endsWith(`/api/v1/remote-sessions/${id}/takeover`) && r.request().method() === "POST");
    await b.getByTestId("takeover-confirm").click();
    expect((await takeover).status()).toBe(200);
    await b.waitForURL(new RegExp(`#/terminal/${id}$`));
    await waitText(b.getByTestId("connect-error"), "Could not connect through Frankfurt.", 40_000);
    const after = await sessionOf(id);
    const old = after.attachments.find((a: { id: string }) => a.id === phone.attachment_id);
    expect(old).toMatchObject({ state: "taken_over", end_reason: "taken_over" });
    expect(old.taken_over_by).toMatch(UUID);
    await expectNoTopology(b);
    await api("POST", `/remote-sessions/${id}/terminate`, undefined, phoneToken);
  });
});

describe("the whole run", () => {
  test("loaded everything from the control plane, with no script error or CSP violation", () => {
    expect(problems).toEqual([]);
  });
});
