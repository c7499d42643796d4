/**
 * Mesh bulk throughput through the napi boundary (part of `scripts/bench mesh`).
 *
 * Two endpoints bound through the TypeScript wrapper (crates/fabric-quic/index.ts)
 * in this Bun process, with cluster certificates from the control plane's own
 * issuing code (fixtures/mesh.ts). One `file_transfer` channel carries `bytes`
 * in 64 KiB messages: the sender keeps a window of `send` promises open (each
 * resolves when queued or, under back-pressure, when there is room), the
 * receiver takes `recv(256)` batches. Same shape as `mesh-bench bulk`, the
 * pure-Rust twin it is compared with.
 *
 * Standalone: `bun scripts/benchmarks/mesh-napi.ts [--bytes N] [--message N]`
 * prints one JSON line.
 */
import { readFileSync } from "node:fs";
import type { Mesh } from "../../crates/fabric-quic/index.ts";
import { meshNode, testCa } from "../../fixtures/mesh.ts";

const UDP_BUFFER = 4 << 20;
/** Sends awaited at once: enough to keep the Rust queue (depth 64) fed. */
export const WINDOW = 32;

/** UDP RcvbufErrors + SndbufErrors from /proc/net/snmp (system-wide). */
export function udpBufferErrors(): { rcvbuf_errors: number; sndbuf_errors: number } {
  const lines = readFileSync("/proc/net/snmp", "utf8")
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const field = (name: string) => Number(values[names.indexOf(name)] ?? 0);
  return { rcvbuf_errors: field("RcvbufErrors"), sndbuf_errors: field("SndbufErrors") };
}

async function drain(mesh: Mesh, bytes: number): Promise<number> {
  let got = 0;
  while (got < bytes) {
    const batch = await mesh.recv(256);
    if (batch.length === 0) throw new Error("endpoint closed while draining");
    for (const m of batch) if (m.class === "file_transfer") got += m.data.length;
  }
  return performance.now();
}

export interface NapiBulk {
  mbps: number;
  udp_drops: { rcvbuf_errors: number; sndbuf_errors: number };
  socket: { recv_buffer_bytes: number; send_buffer_bytes: number };
}

export async function napiBulk(bytes: number, message = 64 << 10): Promise<NapiBulk> {
  const ca = await testCa();
  const options = { udpBufferBytes: UDP_BUFFER, segmentationOffload: true };
  const [a, b] = [await meshNode(ca, options), await meshNode(ca, options)];
  try {
    await a.connect(b.nodeId, b.address);
    a.authorize(b.nodeId, ["file_transfer"]);
    b.authorize(a.nodeId, ["file_transfer"]);
    const count = Math.ceil(bytes / message);
    const payload = new Uint8Array(message).fill(0xa5);
    const before = udpBufferErrors();
    const sink = drain(b, count * message);
    const t0 = performance.now();
    const pending: Promise<boolean>[] = [];
    for (let i = 0; i < count; i++) {
      pending.push(a.send(b.nodeId, "file_transfer", payload));
      if (pending.length >= WINDOW) await pending.shift();
    }
    await Promise.all(pending);
    const done = await sink;
    const after = udpBufferErrors();
    return {
      mbps: Math.round(((count * message) / ((done - t0) / 1000) / 1e6) * 10) / 10,
      udp_drops: { rcvbuf_errors: after.rcvbuf_errors - before.rcvbuf_errors, sndbuf_errors: after.sndbuf_errors - before.sndbuf_errors },
      socket: a.stats().socket,
    };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

if (import.meta.main) {
  const arg = (name: string, fallback: number) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? Number(process.argv[at + 1]) : fallback;
  };
  console.log(JSON.stringify(await napiBulk(arg("--bytes", 64 << 20), arg("--message", 64 << 10))));
}
