/**
 * The RDP attachment (rdp-session.ts) under Bun over the WebSocket fallback
 * against the real entry listener (`entry-harness`, echo upstream): tile
 * messages written on the input stream come back on render, where the
 * session parses them into `tiles` events; a malformed message becomes a
 * `rdp.malformed_tiles` notice and the session goes on; channels the entry
 * did not allow (clipboard, file_transfer) are refused locally with a clear
 * message; detach detaches. (frame_ack on render waits for the entry to
 * pass it: see rdp-test-client.ts.) The client runs as
 * its own process (rdp-test-client.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "../../../fixtures/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EntryHarness, startEntryHarness } from "../../../fixtures/entry-harness.ts";
import { runToExit } from "../../../fixtures/process.ts";
import { policyFromToken } from "./rdp-session.ts";

let dir: string;
let harness: EntryHarness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-rdp-session-"));
  harness = await startEntryHarness(join(dir, "entry.pem"));
}, 900_000);

afterAll(async () => {
  await harness?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("RDP attachment over the WebSocket fallback, under Bun", () => {
  test("tiles come back parsed, a bad message is a notice and the session goes on, unallowed channels are refused, detach detaches", async () => {
    const run = await runToExit([process.execPath, join(import.meta.dirname, "rdp-test-client.ts"), harness.url], {
      env: { PATH: process.env.PATH ?? "", NODE_EXTRA_CA_CERTS: harness.certFile },
      timeoutMs: 60_000,
    });
    if (run.code !== 0) throw new Error(`rdp-test-client exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
    const [attached, tiles, afterBad, refused, detached] = run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(attached).toEqual({
      step: "attached",
      transport: "websocket",
      channels: ["control", "input", "render"],
      clipboard: false,
      files: false,
      policy: { clipboard: "disabled", file_transfer: "disabled" },
    });
    expect(tiles).toEqual({
      step: "tiles",
      frameSeq: 3,
      last: true,
      capturedAtUs: 987_654_321,
      tiles: [
        { x: 0, y: 0, w: 64, h: 64, encoding: "solid", same: true },
        { x: 64, y: 0, w: 64, h: 32, encoding: "png", same: true },
      ],
    });
    expect(afterBad.notice).toMatchObject({ code: "rdp.malformed_tiles", channel: "render" });
    expect(afterBad.next).toBe(4);
    expect(afterBad.counters).toMatchObject({ frames: 0, tiles: 4 });
    expect(refused.refusals).toEqual({
      clipboard: "the clipboard channel is not allowed on this session",
      upload: "the file_transfer channel is not allowed on this session",
      list: "the file_transfer channel is not allowed on this session",
    });
    expect(refused.rtt).toBeGreaterThan(0);
    expect(detached).toEqual({ step: "detached" });
  }, 120_000);
});

describe("policy from the data-plane token", () => {
  const token = (pol: object) => `h.${Buffer.from(JSON.stringify({ pol })).toString("base64url")}.s`;

  test("directions come from the token's pol claim, only for channels the entry allowed", () => {
    const all = ["control", "input", "render", "clipboard", "file_transfer"];
    expect(policyFromToken(token({ clipboard: "server_to_client", file_transfer: "client_to_server" }), all)).toEqual({
      clipboard: "server_to_client",
      file_transfer: "client_to_server",
    });
    expect(policyFromToken(token({ clipboard: "bidirectional", file_transfer: "bidirectional" }), ["control", "input", "render"])).toEqual({
      clipboard: "disabled",
      file_transfer: "disabled",
    });
    // Unreadable: a listed channel is offered both ways and the adapter decides.
    expect(policyFromToken("not-a-jws", all)).toEqual({ clipboard: "bidirectional", file_transfer: "bidirectional" });
  });
});
