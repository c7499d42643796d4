/**
 * Wake-ups for long-polling agents. A change that can alter nodes' snapshots
 * (roles, node states, revocations, resources) signals its cluster, or every
 * cluster, on live state; each replica wakes only the requests waiting on
 * that cluster, which then rebuild their snapshot once.
 */
import type { LiveState, Unsubscribe } from "../../live/live-state.ts";

const CHANNEL = "snapshots";
const ALL = "*";

export class SnapshotSignals {
  private readonly waiters = new Map<string, Set<() => void>>();
  private unsubscribe: Unsubscribe | undefined;

  constructor(private readonly live: LiveState) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.live.subscribe(CHANNEL, (clusterId) => this.wake(clusterId));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    for (const set of this.waiters.values()) for (const w of set) w();
  }

  /** Signals one cluster, or all of them when `clusterId` is null. */
  async changed(clusterId: string | null): Promise<void> {
    this.wake(clusterId ?? ALL);
    await this.live.publish(CHANNEL, clusterId ?? ALL);
  }

  /** Resolves on the next signal for the cluster, or after `ms`. */
  wait(clusterId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(clusterId) ?? new Set();
      this.waiters.set(clusterId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private wake(clusterId: string): void {
    const targets = clusterId === ALL ? [...this.waiters.values()] : [this.waiters.get(clusterId)];
    for (const set of targets) for (const w of [...(set ?? [])]) w();
  }
}
