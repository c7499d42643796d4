/**
 * The platform console and the organization panel in headless Chromium,
 * against a real control-plane process and a real rap-node-agent: bootstrap
 * the first owner, sign in, set up two-factor and sign in with a code,
 * create a cluster and a join token (step-up prompt), enroll a real agent
 * with the command the console shows, approve it, watch it report healthy,
 * assign roles and see the workload run; then an organization admin signs in
 * to the panel, sees the organization's safe view and gets 403 on platform
 * pages. Every main page is saved as a screenshot: to a temporary folder
 * (removed afterwards), or to docs/screenshots/ with UPDATE_SCREENSHOTS=1,
 * so a test run leaves the tree as it was.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { apiCall } from "../fixtures/api-client.ts";
import { TotpCodes } from "../fixtures/totp-codes.ts";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { freePort, spawnControlPlane, type ControlPlaneProcess } from "../fixtures/process.ts";
import { spawnAgent, type AgentProcess } from "../fixtures/agent-process.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { launchBrowser, type Browser, waitText } from "../fixtures/browser.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(90_000);

/** docs/screenshots/ only when asked to refresh them; otherwise under the test's temporary folder. */
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1";
let SHOTS = join(import.meta.dirname, "../docs/screenshots");
const OWNER = { email: "owner@example.com", password: "correct horse battery staple" };
const ORG_ADMIN = { email: "admin@acme.example", password: "acme admin passphrase" };
const NODE_NAME = "edge-fra-1";

let dir: string;
let store: TestDatabase | undefined;
let cp: ControlPlaneProcess;
let browser: Browser;
let page: Page;
let enroller: AgentProcess | undefined;
let runner: AgentProcess | undefined;
const totp = new TotpCodes();
let apiToken = "";
let orgId = "";
let clusterId = "";
let nodeId = "";
/** Script errors, CSP violations and any request that left the control plane's origin, for the whole run. */
const problems: string[] = [];

/** The API as a separate client of the same control plane, to check what the pages show against the real state. */
function api<T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<T> {
  return apiCall<T>(cp.url, method, path, body, apiToken);
}

async function textOf(l: Locator): Promise<string> {
  return ((await l.textContent({ timeout: 20_000 })) ?? "").trim();
}

async function go(p: Page, hash: string): Promise<void> {
  await p.evaluate((h) => (location.hash = h), hash);
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function watch(p: Page): void {
  p.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  p.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
}

async function signIn(p: Page, who: { email: string; password: string }, code?: () => Promise<string>): Promise<void> {
  const form = p.getByTestId("sign-in-form");
  await form.locator("input[name=email]").fill(who.email);
  await form.locator("input[name=password]").fill(who.password);
  await form.locator("button[type=submit]").click();
  if (code) {
    await p.getByTestId("totp-field").waitFor({ state: "visible" });
    await form.locator("input[name=totp_code]").fill(await code());
    await form.locator("button[type=submit]").click();
  }
  await waitText(p.getByTestId("who"), who.email);
}

async function signOut(p: Page): Promise<void> {
  await go(p, "#/account");
  await p.getByTestId("sign-out").click();
  await p.getByTestId("sign-in-form").waitFor();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-console-browser-"));
  if (!UPDATE_SCREENSHOTS) SHOTS = join(dir, "screenshots");
  await mkdir(SHOTS, { recursive: true });
  const env: Record<string, string> = {
    DATA_DIR: join(dir, "cp"),
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
    TIMER_POLL_MS: "100",
    PORT: String(await freePort()),
  };
  if (storeKind === "postgres") {
    store = await freshDatabase({ migrated: false });
    env.DATABASE_URL = store.url!;
  }
  if (process.env.TEST_REDIS_URL) env.REDIS_URL = process.env.TEST_REDIS_URL;
  [cp, browser] = await Promise.all([spawnControlPlane(env), launchBrowser()]);
  browser.context.on("request", (r) => {
    if (!r.url().startsWith(`${cp.url}/`)) problems.push(`request to ${r.url()}`);
  });
  browser.context.on("page", watch);
  page = await browser.context.newPage();
});

afterAll(async () => {
  for (const a of [runner, enroller]) {
    if (a && a.proc.exitCode === null) {
      a.proc.kill("SIGTERM");
      await a.exited;
    }
  }
  await browser?.close();
  await cp?.stop();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("platform owner console", () => {
  test("bootstraps the first owner and signs in", async () => {
    // The bare address lands on the console, with its icon.
    await page.goto(`${cp.url}/`);
    expect(page.url()).toBe(`${cp.url}/console/`);
    const iconHref = await page.locator("link[rel=icon]").getAttribute("href");
    const icon = await page.request.get(`${cp.url}${iconHref}`);
    expect({ status: icon.status(), type: icon.headers()["content-type"] }).toEqual({ status: 200, type: "image/svg+xml" });
    await waitText(page.getByTestId("installation-status"), "not activated");
    const form = page.getByTestId("bootstrap-form");
    await form.locator("input[name=email]").fill(OWNER.email);
    await form.locator("input[name=display_name]").fill("Olivia Owner");
    await form.locator("input[name=password]").fill(OWNER.password);
    await form.locator("button[type=submit]").click();
    await waitText(page.getByTestId("installation-status"), "Installation activated (dev mode)");
    await shot(page, "sign-in");
    await signIn(page, OWNER);
    expect(await textOf(page.getByTestId("who"))).toContain("platform_owner");
    expect((await api<{ activated: boolean }>("GET", "/installation")).activated).toBe(true);
    apiToken = (await api<{ access_token: string }>("POST", "/auth/login", OWNER)).access_token;
  });

  test("sets up two-factor, signs in with a code, and trusts this browser", async () => {
    await go(page, "#/account");
    await page.getByTestId("mfa-start").click();
    totp.secret = await textOf(page.getByTestId("mfa-secret"));
    expect(totp.secret).toMatch(/^[A-Z2-7]{16,}$/);
    await page.getByTestId("mfa-code").fill(await totp.next());
    await page.getByTestId("mfa-confirm").click();
    await waitText(page.getByTestId("mfa"), "two-factor on");

    await signOut(page);
    await signIn(page, OWNER, () => totp.next());
    await go(page, "#/account");
    await page.getByTestId("trust-device").click();
    await waitText(page.getByTestId("trusted-devices"), "browser");
    // A trusted browser signs in without a code; high-risk actions will ask for one (step-up).
    await signOut(page);
    await signIn(page, OWNER);
    await shot(page, "account");
  });

  test("creates a cluster", async () => {
    await go(page, "#/clusters");
    const form = page.getByTestId("new-cluster");
    await form.locator("input[name=name]").fill("Frankfurt");
    await form.locator("input[name=slug]").fill("fra");
    await form.locator("input[name=region]").fill("eu-central");
    await form.locator("button[type=submit]").click();
    await page.waitForURL(/#\/clusters\/[0-9a-f-]{36}$/);
    clusterId = /#\/clusters\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    const cluster = await api("GET", `/clusters/${clusterId}`);
    expect(cluster).toMatchObject({ name: "Frankfurt", slug: "fra", region: "eu-central", status: "active" });
    const authority = await api("GET", `/clusters/${clusterId}/authority`);
    expect(await waitText(page.getByTestId("cluster-signing-fingerprint"), authority.signing_fingerprint)).toBe(authority.signing_fingerprint);
    expect(await textOf(page.getByTestId("cluster-ca-fingerprint"))).toBe(authority.ca_fingerprint);
  });

  test("creates a join token after a step-up prompt and shows the agent command once", async () => {
    await go(page, `#/join-requests?cluster=${clusterId}`);
    await page.getByTestId("create-token").click();
    await page.getByTestId("step-up-dialog").waitFor();
    await page.getByTestId("step-up-input").fill(await totp.next());
    await page.getByTestId("step-up-submit").click();
    const command = await textOf(page.getByTestId("agent-command"));
    expect(command).toMatch(
      new RegExp(
        `^rap-node-agent enroll --control-plane ${cp.url.replace(/[.]/g, "\\.")} --cluster ${clusterId} --token rap_jt_\\S+ --authority-fingerprint SHA256:\\S+$`,
      ),
    );
    const tokens = await api<{ items: { prefix: string; used_count: number }[] }>("GET", `/clusters/${clusterId}/join-tokens`);
    expect(tokens.items).toHaveLength(1);
    expect(command).toContain(tokens.items[0]!.prefix);
    await waitText(page.getByTestId("join-tokens"), tokens.items[0]!.prefix);
    // The listing never shows the token again, only its prefix.
    expect(await textOf(page.getByTestId("join-tokens"))).not.toContain(/--token (\S+)/.exec(command)![1]!);

    const args = command.split(/\s+/).slice(1);
    enroller = spawnAgent([...args, "--name", NODE_NAME, "--poll-interval", "0.2", "--state-dir", join(dir, "host")]);
    await enroller.waitFor(/join request (\S+) sent/);
  });

  test("shows the real agent's join request and approves it", async () => {
    const row = page.getByTestId(`approve-${NODE_NAME}`);
    await row.waitFor({ timeout: 20_000 });
    const requests = page.getByTestId("join-requests");
    expect(await textOf(requests)).toContain("no roles requested");
    expect(await textOf(requests)).toContain("can_route_mesh");
    await shot(page, "join-requests");
    await row.click();
    const approved = await waitText(page.getByTestId("approved"), `Approved ${NODE_NAME}`);
    nodeId = /node ([0-9a-f-]{36})/.exec(approved)![1]!;
    expect(await enroller!.exited).toBe(0);
    expect(enroller!.output()).toContain(`enrolled in cluster ${clusterId} as node ${nodeId}`);
  });

  test("revokes an unused join token", async () => {
    await page.getByTestId("create-token").click();
    const command = await waitText(page.getByTestId("agent-command"), /--token rap_jt_/);
    const tokens = await api<{ items: { id: string; prefix: string; revoked_at: string | null }[] }>("GET", `/clusters/${clusterId}/join-tokens`);
    const fresh = tokens.items.find((t) => command.includes(t.prefix) && !t.revoked_at)!;
    await page.getByTestId(`revoke-token-${fresh.prefix}`).click();
    await waitText(page.locator("[data-testid=join-tokens] tr", { hasText: fresh.prefix }), "revoked");
    const after = await api<{ items: { id: string; revoked_at: string | null }[] }>("GET", `/clusters/${clusterId}/join-tokens`);
    expect(after.items.find((t) => t.id === fresh.id)!.revoked_at).not.toBeNull();
  });

  test("the running node reports heartbeats and shows healthy", async () => {
    const pids = join(dir, "pids");
    await mkdir(pids);
    const workloads = join(dir, "workloads.json");
    const workload = { command: [process.execPath, join(import.meta.dirname, "../fixtures/workload.ts")], env: { WORKLOAD_PID_DIR: pids } };
    await writeFile(workloads, JSON.stringify({ "relay-node": workload, "entry-node": workload }));
    runner = spawnAgent(["run", "--heartbeat-interval", "0.5", "--workloads", workloads, "--state-dir", join(dir, "host")]);
    const node = await waitFor(
      async () => {
        const n = await api("GET", `/clusters/${clusterId}/nodes/${nodeId}`);
        return n.last_heartbeat ? n : null;
      },
      { timeoutMs: 20_000, what: "first heartbeat" },
    );

    await go(page, `#/nodes?cluster=${clusterId}`);
    const rowText = await waitText(page.locator(`[data-testid=nodes] tr[data-row="${nodeId}"]`), "healthy");
    expect(rowText).toContain(NODE_NAME);
    await shot(page, "nodes");
    await page.locator(`[data-testid=nodes] a[href="#/nodes/${clusterId}/${nodeId}"]`).click();
    await waitText(page.getByTestId("node-name"), NODE_NAME);
    expect(await textOf(page.getByTestId("node-health"))).toBe("healthy");
    expect(await textOf(page.getByTestId("node-status"))).toBe("active");
    expect(await textOf(page.getByTestId("node-version"))).toBe(node.last_heartbeat.agent_version);
    expect(await textOf(page.getByTestId("node-fingerprint"))).toBe(node.identities[0].fingerprint);
    await waitText(page.getByTestId("node-last-heartbeat"), /ago, #\d+/);
  });

  test("assigns roles in the UI and sees the workload run", async () => {
    orgId = (await api("POST", "/organizations", { name: "Acme", slug: "acme" })).id;
    await api("POST", `/organizations/${orgId}/members`, {
      email: ORG_ADMIN.email,
      display_name: "Ada Admin",
      password: ORG_ADMIN.password,
      role: "org_admin",
    });
    await api("POST", "/resources", {
      organization_id: orgId,
      name: "finance-desktop",
      protocol: "rdp",
      target_host: "10.20.0.5",
      target_port: 3389,
      egress_pool: "acme-office",
      clipboard_mode: "client_to_server",
    });
    await page.reload();
    await waitText(page.getByTestId("node-name"), NODE_NAME);

    const form = page.getByTestId("assign-role");
    await page.getByTestId("role-select").selectOption("relay-node");
    await page.getByTestId("assign-role-submit").click();
    await waitText(page.getByTestId("node-roles"), "relay-node");
    await page.getByTestId("role-select").selectOption("entry-node");
    await page.getByTestId("role-org").selectOption({ label: "Acme" });
    await form.locator("input[name=egress_pool]").fill("acme-exit");
    await page.getByTestId("assign-role-submit").click();
    await waitText(page.getByTestId("node-roles"), "entry-node");
    expect(await textOf(page.getByTestId("node-roles"))).toContain("Acme");

    // The agent gets the roles in its signed snapshot, its supervisor starts the workloads and reports them running.
    await waitText(page.getByTestId("node-services"), /relay-node.*running/s, 30_000);
    const detail = await api("GET", `/clusters/${clusterId}/nodes/${nodeId}`);
    expect(detail.services.find((s: { service_type: string }) => s.service_type === "relay-node")).toMatchObject({
      desired_state: "running",
      reported_state: "running",
    });
    await waitText(page.getByTestId("node-snapshot-version"), /v[3-9]/);
    // The agent reports its certificate renewal with every heartbeat.
    await waitText(page.getByTestId("node-cert-renewal"), "automatic (at 2/3 of the lifetime)");
    await shot(page, "node-detail");

    await go(page, `#/workloads?cluster=${clusterId}&state=running`);
    await waitText(page.getByTestId("workloads"), "relay-node");
    await waitText(page.getByTestId("workloads"), "entry-node", 30_000);
    expect(await textOf(page.getByTestId("workloads"))).toContain(NODE_NAME);
    await shot(page, "workloads");

    await go(page, `#/roles?cluster=${clusterId}`);
    await waitText(page.getByTestId("role-assignments"), "Acme");
    expect(await textOf(page.getByTestId("role-coverage"))).toContain("covered");
    await shot(page, "role-assignments");
  });

  test("overview, clusters, health, audit and trust show the real state", async () => {
    await go(page, "#/overview");
    await waitText(page.getByTestId("count-workloads"), "2 / 2");
    expect(await textOf(page.getByTestId("installation-state"))).toBe("activated");
    expect(await textOf(page.getByTestId("installation-mode"))).toBe("dev");
    expect(await textOf(page.getByTestId("count-clusters"))).toBe("1");
    expect(await textOf(page.getByTestId("count-nodes"))).toBe("1");
    expect(await textOf(page.getByTestId("count-healthy"))).toBe("1");
    expect(await textOf(page.getByTestId("count-pending"))).toBe("0");
    expect(await textOf(page.getByTestId("count-gaps"))).toBe("0");
    const overview = await api("GET", "/platform/overview");
    expect(overview).toMatchObject({
      nodes: { total: 1, by_health: { healthy: 1 } },
      pending_join_requests: 0,
      role_coverage_gaps: [],
      workloads: { running: 2 },
    });
    await shot(page, "overview");

    await go(page, "#/clusters");
    await waitText(page.locator(`[data-testid=clusters] tr[data-row="${clusterId}"]`), "relay-node ×1");
    await shot(page, "clusters");
    await go(page, `#/clusters/${clusterId}`);
    await waitText(page.getByTestId("cluster-health"), "1 / 0 / 0");
    await shot(page, "cluster-detail");

    await go(page, "#/health");
    await page.getByTestId("health-clusters").waitFor();
    expect(await textOf(page.getByTestId("risks"))).toBe("No risky states.");
    await shot(page, "health");

    await go(page, "#/audit");
    await page.getByTestId("audit-action").fill("node.role_assigned");
    await page.getByTestId("audit-apply").click();
    await page.waitForURL(/action=node\.role_assigned/);
    const audited = await api<{ items: { action: string }[] }>("GET", "/audit?action=node.role_assigned");
    expect(audited.items).toHaveLength(2);
    const rows = page.locator("[data-testid=audit] tbody tr");
    await waitFor(async () => (await rows.count()) === 2, { timeoutMs: 10_000, what: "filtered audit rows" });
    for (const text of await rows.allTextContents()) expect(text).toContain("node.role_assigned");
    await shot(page, "audit");

    // A VPN connection of Acme (no node may run it here: it waits for one); its lease as the platform sees it.
    await api("POST", "/auth/step-up", { code: await totp.next() });
    const vpn = await api("POST", `/organizations/${orgId}/vpn-connections`, {
      name: "berlin-office",
      target: { site: "Berlin office", address: "198.51.100.7", port: 51820 },
      routing: { allowed_cidrs: ["10.20.0.0/16"], denied_cidrs: ["10.20.9.0/24"] },
      secret: {
        private_key: "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=",
        peer_public_key: "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=",
        tunnel_addresses: ["10.99.0.2/32"],
      },
    });
    await go(page, "#/vpn");
    await waitText(page.getByTestId("vpn-connections"), "berlin-office");
    expect(await textOf(page.getByTestId("vpn-connections"))).toContain("waiting_for_node");
    await go(page, `#/vpn?vpn=${vpn.id}`);
    await waitText(page.getByTestId("vpn-history"), "No lease facts yet.");
    await shot(page, "vpn");

    await go(page, `#/trust?cluster=${clusterId}`);
    const authority = await api("GET", `/clusters/${clusterId}/authority`);
    await waitText(page.getByTestId("trust-signing-fingerprint"), authority.signing_fingerprint);
    expect(await textOf(page.getByTestId("trust-ca-fingerprint"))).toBe(authority.ca_fingerprint);
    expect(await textOf(page.getByTestId("trust-active-certs"))).toBe("1");
    await shot(page, "trust");
  });
});

describe("organization admin panel", () => {
  let org: Page;
  /** What an organization must never see: node names and ids, the cluster id, key fingerprints, role and capability names. */
  const topology = () => [NODE_NAME, nodeId, clusterId, "SHA256:", "relay-node", "can_route_mesh"];

  beforeAll(async () => {
    org = await browser.context.newPage();
  });

  test("shows the organization's resources, users, sessions, endpoints and audit, and no topology", async () => {
    await org.goto(`${cp.url}/org/`);
    await org.getByTestId("sign-in-form").waitFor();
    await signIn(org, ORG_ADMIN);
    expect(await textOf(org.getByTestId("org-name"))).toBe("Acme");

    await waitText(org.getByTestId("org-resources"), "finance-desktop");
    expect(await textOf(org.getByTestId("org-resources"))).toContain("acme-office");
    await shot(org, "org-resources");
    // A desktop added from the panel with its certificate pinned as openssl prints it (kept as SHA256:<base64>).
    const form = org.getByTestId("new-resource");
    await form.locator("input[name=name]").fill("pinned-desktop");
    await form.locator("select[name=protocol]").selectOption("rdp");
    await form.locator("input[name=target_host]").fill("10.20.0.9");
    await form.locator("select[name=quality_profile]").selectOption("text_priority");
    await form.locator("input[name=host_key_fingerprint]").fill(Array.from({ length: 32 }, () => "AB").join(":"));
    await form.locator("button[type=submit]").click();
    await waitText(org.getByTestId("org-resources"), "pinned-desktop");
    const pinned = await org.evaluate(async () => {
      const token = JSON.parse(sessionStorage.getItem("rap.session") ?? "{}").access_token as string;
      const page = (await (await fetch("/api/v1/resources?limit=100", { headers: { authorization: `Bearer ${token}` } })).json()) as {
        items: { name: string; host_key_fingerprint: string | null; quality_profile: string; certificate_verification_mode: string }[];
      };
      return page.items.find((r) => r.name === "pinned-desktop");
    });
    expect(pinned).toMatchObject({
      host_key_fingerprint: `SHA256:${Buffer.alloc(32, 0xab).toString("base64").replace(/=$/, "")}`,
      quality_profile: "text_priority",
      certificate_verification_mode: "strict",
    });
    await go(org, "#/members");
    await waitText(org.getByTestId("org-members"), ORG_ADMIN.email);
    await shot(org, "org-members");
    await go(org, "#/sessions");
    await waitText(org.getByTestId("org-sessions"), ORG_ADMIN.email);
    await shot(org, "org-sessions");
    await go(org, "#/endpoints");
    await waitText(org.getByTestId("org-entry"), "Frankfurt");
    expect(await textOf(org.getByTestId("org-entry"))).toContain("available");
    const egress = await textOf(org.getByTestId("org-egress"));
    expect(egress).toContain("acme-exit");
    expect(egress).toContain("acme-office");
    await shot(org, "org-endpoints");
    await go(org, "#/vpn");
    await waitText(org.getByTestId("org-vpn"), "berlin-office");
    expect(await textOf(org.getByTestId("org-vpn"))).toContain("waiting for node");
    await shot(org, "org-vpn");
    await go(org, "#/audit");
    await waitText(org.getByTestId("org-audit"), "resource.create");
    await shot(org, "org-audit");

    for (const hash of ["#/resources", "#/members", "#/sessions", "#/endpoints", "#/vpn", "#/audit"]) {
      await go(org, hash);
      await org.waitForTimeout(300);
      const html = await org.content();
      for (const secret of topology()) expect(html).not.toContain(secret);
    }
  });

  test("gets 403 on platform pages and from the platform API", async () => {
    await org.goto(`${cp.url}/console/#/clusters`);
    const error = org.getByTestId("error");
    await error.waitFor();
    expect(await error.getAttribute("data-status")).toBe("403");
    expect(await error.getAttribute("data-code")).toBe("auth.forbidden");
    expect(await textOf(org.getByTestId("not-platform"))).toContain("no platform role");
    await shot(org, "org-admin-forbidden");
    for (const hash of ["#/overview", `#/nodes?cluster=${clusterId}`, `#/nodes/${clusterId}/${nodeId}`, `#/trust?cluster=${clusterId}`, "#/audit"]) {
      await go(org, hash);
      await waitText(org.getByTestId("page"), "403 · auth.forbidden");
      const html = await org.content();
      for (const secret of topology()) expect(html).not.toContain(secret);
    }
    const statuses = await org.evaluate(async (cluster) => {
      const token = JSON.parse(sessionStorage.getItem("rap.session") ?? "{}").access_token as string;
      const paths = [
        "/api/v1/clusters",
        "/api/v1/platform/overview",
        `/api/v1/clusters/${cluster}/nodes`,
        `/api/v1/clusters/${cluster}/workloads`,
        `/api/v1/clusters/${cluster}/authority`,
      ];
      return Promise.all(paths.map(async (p) => (await fetch(p, { headers: { authorization: `Bearer ${token}` } })).status));
    }, clusterId);
    expect(statuses).toEqual([403, 403, 403, 403, 403]);
  });
});

describe("the whole run", () => {
  test("loaded everything from the control plane, with no script error or CSP violation", () => {
    expect(problems).toEqual([]);
  });
});
