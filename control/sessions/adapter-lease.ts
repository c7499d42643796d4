/**
 * Adapter leases: an adapter node shows it is alive by reading its session
 * assignments (its agent does so every second). A node with live sessions
 * that has not read them for `ADAPTER_SILENCE_MS` has lost them: its sessions
 * fail with `adapter_node_lost`, journaled and audited, without waiting for
 * the node's liveness timers (stale after 90 s, offline after 5 minutes),
 * because a user's terminal should not hang that long. The sweep runs on
 * every replica (live state is shared through Redis when there are several);
 * a session another replica failed first is simply skipped.
 */
import type { ControlDeps } from "../deps.ts";
import { systemChange } from "../../core/change.ts";
import { ActorEventRejected } from "../../core/errors.ts";
import { newTraceId } from "../../core/ids.ts";
import { REMOTE_SESSION } from "../../actors/remote-session/kind.ts";
import { adapterNodesWithLiveSessions, liveSessionsOnAdapter } from "../../sql/remote-sessions.ts";

/** How long an adapter node may go without reading its assignments before its sessions fail. */
export const ADAPTER_SILENCE_MS = 15_000;
/** How often the control plane looks for silent adapters: sessions fail at most this long after the silence limit. */
export const LEASE_SWEEP_MS = 5_000;

const seenKey = (nodeId: string) => `adapter-seen:${nodeId}`;

/** Kept longer than any silence limit: the sweep compares the time it holds. */
const SEEN_TTL_MS = 3_600_000;

/** The node read its assignments just now. */
export async function markAdapterSeen(deps: Pick<ControlDeps, "live" | "clock">, nodeId: string): Promise<void> {
  await deps.live.set(seenKey(nodeId), String(deps.clock().getTime()), SEEN_TTL_MS);
}

/** Fails the live sessions of every adapter node silent past `silenceMs`; the failed session ids. */
export async function failSilentAdapters(deps: Pick<ControlDeps, "db" | "live" | "host" | "clock">, silenceMs = ADAPTER_SILENCE_MS): Promise<string[]> {
  const failed: string[] = [];
  const now = deps.clock().getTime();
  for (const nodeId of await adapterNodesWithLiveSessions(deps.db)) {
    const seen = Number(await deps.live.get(seenKey(nodeId)));
    if (Number.isFinite(seen) && seen > 0 && now - seen <= silenceMs) continue;
    const at = deps.clock().toISOString();
    for (const s of await liveSessionsOnAdapter(deps.db, nodeId)) {
      try {
        await deps.host.send(REMOTE_SESSION, s.id, { type: "session.fail", reason: "adapter_node_lost", at } as never, systemChange("timer", newTraceId()));
        failed.push(s.id);
      } catch (err) {
        if (!(err instanceof ActorEventRejected)) throw err;
      }
    }
  }
  return failed;
}

/**
 * Runs the sweep every `LEASE_SWEEP_MS`, starting only after a full silence
 * window: a control plane that just started (in-process live state is empty
 * then) must first give every adapter the chance to read its assignments.
 */
export class AdapterLeaseSweeper {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: Pick<ControlDeps, "db" | "live" | "host" | "clock" | "log">,
    private readonly o: { silenceMs?: number; sweepMs?: number } = {},
  ) {}

  start(): void {
    const startedAt = Date.now();
    const silenceMs = this.o.silenceMs ?? ADAPTER_SILENCE_MS;
    this.timer = setInterval(
      () => {
        if (Date.now() - startedAt < silenceMs) return;
        this.running = this.running.then(() =>
          failSilentAdapters(this.deps, silenceMs)
            .then((ids) => ids.length && this.deps.log.warn("sessions failed: their adapter node went silent", { sessions: ids.length }))
            .catch((err) => this.deps.log.error("adapter lease sweep failed", { error: err instanceof Error ? err.message : String(err) })),
        );
      },
      this.o.sweepMs ?? Math.min(LEASE_SWEEP_MS, silenceMs / 3),
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
