import { appendFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "../../fixtures/test.ts";
import { historyRecorder, readVpnHistory, vpnHistoryFile } from "./history-file.ts";

const dir = mkdtempSync(join(tmpdir(), "vpn-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the agent's VPN history file", () => {
  test("facts come back in the order recorded; a torn last line is skipped; the file is the operator's only", () => {
    const file = vpnHistoryFile(dir, "cluster-1");
    const record = historyRecorder(file);
    const base = { connection_id: "c", node_id: "n", epoch: 2 };
    record({ ...base, kind: "forward.started", at: "2026-11-30T03:00:00.000Z" });
    record({ ...base, kind: "forward.stopped", at: "2026-11-30T03:00:05.000Z", reason: "cannot_renew" });
    appendFileSync(file, '{"kind":"forward.sta');
    expect(readVpnHistory(file)).toEqual([
      { ...base, kind: "forward.started", at: "2026-11-30T03:00:00.000Z" },
      { ...base, kind: "forward.stopped", at: "2026-11-30T03:00:05.000Z", reason: "cannot_renew" },
    ]);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(readVpnHistory(join(dir, "absent.jsonl"))).toEqual([]);
  });
});
