/**
 * The access client library under Bun (which has no WebTransport) against
 * the real entry listener (`entry-harness`, echo upstream): the library falls
 * back to `@moq/web-transport-ws`, which must agree on the wire with the
 * entry's qmux WebSocket transport. Each client runs as its own Bun process
 * that trusts the harness's certificate file; nothing is mocked.
 */
import { afterAll, beforeAll, describe, expect, test } from "../../../fixtures/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERROR_CATALOG } from "../../../core/error-catalog.ts";
import { buildEntryHarness, ENTRY_HARNESS, type EntryHarness, startEntryHarness } from "../../../fixtures/entry-harness.ts";
import { runToExit } from "../../../fixtures/process.ts";
import { scriptArgv, spawn } from "../../../core/runtime/index.ts";

const ROOT = join(import.meta.dirname, "../../..");
let dir: string;
let harness: EntryHarness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-entry-"));
  harness = await startEntryHarness(join(dir, "entry.pem"));
}, 900_000);

afterAll(async () => {
  await harness?.stop();
  await rm(dir, { recursive: true, force: true });
});

type Step = Record<string, unknown> & { step: string };

async function client(mode: string, token?: string): Promise<Step[]> {
  const args = [process.execPath, join(ROOT, "fixtures/access-client.ts"), mode, harness.url, ...(token ? [token] : [])];
  const run = await runToExit(args, { env: { PATH: process.env.PATH ?? "", NODE_EXTRA_CA_CERTS: harness.certFile }, timeoutMs: 60_000 });
  if (run.code !== 0) throw new Error(`client ${mode} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Step);
}

describe("access client over the WebSocket fallback, under Bun", () => {
  test("connects with the polyfill, types into input and sees the echo on render, resizes, measures RTT and detaches", async () => {
    const steps = await client("echo", "good");
    const [welcome, echoed, detached] = steps;
    expect(welcome).toMatchObject({ step: "welcome", transport: "websocket", channels: ["control", "input", "render"] });
    expect(String(welcome?.attachment)).toStartWith("attachment-");
    expect(echoed).toMatchObject({ step: "echoed" });
    expect(String(echoed?.output)).toContain("echo ✓ typed\r");
    expect(String(echoed?.output)).toContain("resize 100x30\r\n");
    expect(echoed?.rtt).toBeGreaterThan(0);
    expect(detached).toEqual({ step: "detached" });
  }, 120_000);

  test("a refused token comes back as the entry's error event", async () => {
    const [refused] = await client("refused", "forged");
    expect(refused).toMatchObject({
      step: "refused",
      error: {
        code: "data_plane.token_invalid",
        message_key: "errors.data_plane.token_invalid",
        fallback_message: ERROR_CATALOG["data_plane.token_invalid"].fallback,
      },
    });
    expect((refused?.error as { trace_id?: string } | undefined)?.trace_id).toMatch(/^[0-9a-f]{32}$/);
  }, 120_000);

  test("a pushed session.taken_over reaches the client, which is then closed", async () => {
    const proc = spawn(scriptArgv(join(ROOT, "fixtures/access-client.ts"), ["notice", harness.url, "good"]), {
      env: { PATH: process.env.PATH ?? "", NODE_EXTRA_CA_CERTS: harness.certFile },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const reader = proc.stdout!.getReader();
    let text = "";
    // The client prints its attachment once welcomed; the push goes to that attachment's connection.
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const welcome = JSON.parse(text.split("\n")[0]!) as Step;
    expect(await harness.push("taken_over", String(welcome.attachment))).toBe(true);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(await proc.exited).toBe(0);
    clearTimeout(timer);
    const steps = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Step);
    expect(steps[1]).toMatchObject({ step: "notice", notice: { type: "session.taken_over", error: { code: "data_plane.attachment_superseded" } } });
    expect(steps[2]).toEqual({ step: "closed" });
  }, 120_000);

  test("asking for WebTransport where there is none fails as unreachable, without falling back", async () => {
    const [result] = await client("webtransport");
    expect(result).toMatchObject({ step: "unreachable", unreachable: true });
    expect(String(result?.message)).toContain("no WebTransport");
  }, 120_000);

  test("the entry's own error codes and texts are the catalog's", async () => {
    await buildEntryHarness();
    const run = await runToExit([ENTRY_HARNESS, "--error-catalog"], { env: {} });
    const entryCodes = JSON.parse(run.stdout) as Record<string, { status: number; fallback: string }>;
    expect(Object.keys(entryCodes).length).toBeGreaterThanOrEqual(10);
    for (const [code, entry] of Object.entries(entryCodes)) expect({ code, ...entry }).toEqual({ code, ...ERROR_CATALOG[code as keyof typeof ERROR_CATALOG] });
  }, 900_000);
});
