/**
 * Where an agent keeps its own VPN forwarding facts: one JSON line per
 * `VpnHistoryEvent` (core/contracts/vpn.ts) in `vpn-history-<cluster>.jsonl`
 * in its state directory, appended synchronously so the order on disk is the
 * order the keeper decided in, and a process killed right after a decision
 * still leaves it on disk. Tests and operators feed these files, with the
 * control plane's lease history, to the checker (core/vpn/history.ts).
 */
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { VpnHistoryEvent } from "../../core/contracts/vpn.ts";

export function vpnHistoryFile(stateDir: string, clusterId: string): string {
  return join(stateDir, `vpn-history-${clusterId}.jsonl`);
}

/** A recorder that appends to `file` (mode 0600: node ids and timings are the operator's business). */
export function historyRecorder(file: string): (e: VpnHistoryEvent) => void {
  return (e) => appendFileSync(file, `${JSON.stringify(e)}\n`, { mode: 0o600 });
}

/** The facts of one file, oldest first; a line that does not parse (a torn last write) is skipped. */
export function readVpnHistory(file: string): VpnHistoryEvent[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: VpnHistoryEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = v.safeParse(VpnHistoryEvent, JSON.parse(line));
      if (r.success) out.push(r.output);
    } catch {
      // A torn line: skipped.
    }
  }
  return out;
}
