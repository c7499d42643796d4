/**
 * The console's "Releases and rollouts" page in headless Chromium against a
 * real control-plane process: releases signed by the release tooling and
 * pushed into version storage, a cluster whose canary already runs the new
 * version and whose other node does not yet, and a rollout at its second
 * ring. The page must show the channel, the rollout's progress per ring, each
 * node's update state and the releases; pausing from the page pauses the
 * rollout (checked through the API). Screenshot: `updates` (docs/screenshots/
 * with UPDATE_SCREENSHOTS=1).
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { AgentCluster } from "../fixtures/agent-cluster.ts";
import { launchBrowser, type Browser, waitText } from "../fixtures/browser.ts";
import { enrollOverHttp, type HttpNode } from "../fixtures/http-nodes.ts";
import { makeReleaseKeys, type ReleaseKeys } from "../fixtures/releases.ts";
import { addRelease, newRepo } from "../fixtures/version-repo.ts";
import { httpCall, pushRepository } from "../scripts/release-lib/push.ts";

setDefaultTimeout(120_000);

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1";
let c: AgentCluster;
let keys: ReleaseKeys;
let repo: string;
let browser: Browser;
let page: Page;
let shots: string;
let clusterId: string;
let rolloutId: string;
const problems: string[] = [];

async function beat(n: HttpNode, current: string, state = "running"): Promise<void> {
  const res = await n.agent("POST", "/heartbeat", { seq: Date.now(), agent_version: current, telemetry: { update: { state, current, known_good: current } } });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  keys = await makeReleaseKeys();
  c = await AgentCluster.start("rap-updates-browser-", { env: { INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE: join(keys.dir, "root/product-root.pub") } });
  shots = UPDATE_SCREENSHOTS ? join(import.meta.dirname, "../docs/screenshots") : join(c.dir, "screenshots");
  await mkdir(shots, { recursive: true });
  repo = await newRepo(keys);
  for (const v of ["1.0.0", "2.0.0"]) await addRelease(keys, repo, v);
  await pushRepository(repo, httpCall(c.cp.url, c.token));
  clusterId = await c.newCluster("fra");
  const canary = await enrollOverHttp(c.cp.url, c.token, clusterId, "edge-fra-canary", { can_route_mesh: true });
  const edge = await enrollOverHttp(c.cp.url, c.token, clusterId, "edge-fra-2", { can_route_mesh: true });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/nodes/${canary.nodeId}`, { channel: "stable", ring: "canary" });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/channels/stable`, { version: "1.0.0" });
  for (const n of [canary, edge]) await beat(n, "1.0.0");
  rolloutId = (await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "2.0.0", rings: ["canary", "default"] }))
    .id;
  await beat(canary, "2.0.0");
  browser = await launchBrowser();
  browser.context.on("page", (p) => p.on("pageerror", (err) => problems.push(`page error: ${err.message}`)));
  page = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await c?.stop();
  for (const d of [repo, keys?.dir]) if (d) await rm(d, { recursive: true, force: true });
});

describe("the releases and rollouts page", () => {
  test("shows channels, the rollout per ring, each node's update state and the releases; pause works from the page", async () => {
    await page.goto(`${c.cp.url}/console/`);
    const form = page.getByTestId("sign-in-form");
    await form.locator("input[name=email]").fill("owner@example.com");
    await form.locator("input[name=password]").fill("correct horse battery staple");
    await form.locator("button[type=submit]").click();
    await page.getByTestId("totp-field").waitFor({ state: "visible" });
    await form.locator("input[name=totp_code]").fill(await c.totp.next());
    await form.locator("button[type=submit]").click();
    await waitText(page.getByTestId("who"), "owner@example.com");
    await page.evaluate((h) => (location.hash = h), `#/updates?cluster=${clusterId}`);
    await waitText(page.getByTestId("channels").locator('[data-row="stable"]'), /1\.0\.0/);
    const rollout = page.getByTestId("rollouts").locator(`[data-row="${rolloutId}"]`);
    await waitText(rollout, /canary: 1\/1 running/);
    await waitText(rollout, /default: 0\/1 running/);
    await waitText(page.getByTestId("node-updates"), /edge-fra-canary.*canary.*running.*2\.0\.0/s);
    // The other node's heartbeats now ask for 2.0.0: its ring was reached when the canary ran it.
    await waitText(page.getByTestId("node-updates").locator("tr", { hasText: "edge-fra-2" }), /running\s*1\.0\.0.*2\.0\.0/s);
    await waitText(page.getByTestId("releases"), /2\.0\.0/);
    await page.screenshot({ path: join(shots, "updates.png"), fullPage: true });
    await rollout.getByTestId("rollout-pause").click();
    // Pausing is high-risk: the page asks for a code (step-up) when the session's proof is old; answer it if it does.
    if (
      await page
        .getByTestId("step-up-dialog")
        .isVisible()
        .catch(() => false)
    ) {
      await page.getByTestId("step-up-input").fill(await c.totp.next());
      await page.getByTestId("step-up-submit").click();
    }
    await waitText(rollout, /paused/);
    const p = await c.api<{ rollouts: { id: string; status: string }[] }>("GET", `/api/v1/versions/clusters/${clusterId}`);
    expect(p.rollouts.find((r) => r.id === rolloutId)?.status).toBe("paused");
    expect(problems).toEqual([]);
  });
});
