/** The per-replica blocklist of disabled and revoked nodes, read on the node-agent hot path. */
import type { Db } from "../../sql/db.ts";
import type { LiveState } from "../../live/live-state.ts";
import { blockedNodeIds } from "../../sql/nodes.ts";

/**
 * Nodes that must be refused although their token has not expired: disabled
 * and revoked ones. Kept in memory so the heartbeat path never queries for
 * it; a change on any replica is published on live state and applied by all,
 * and a periodic reload from PostgreSQL repairs anything a message missed.
 */
export class NodeBlocklist {
  private blocked = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  static readonly CHANNEL = "node-status";

  constructor(
    private readonly db: Db,
    private readonly live: LiveState,
    private readonly reloadMs = 5000,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = await this.live.subscribe(NodeBlocklist.CHANNEL, (m) => {
      const { nodeId, blocked } = JSON.parse(m) as { nodeId: string; blocked: boolean };
      this.apply(nodeId, blocked);
    });
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.reloadMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  async reload(): Promise<void> {
    this.blocked = new Set(await blockedNodeIds(this.db));
  }

  isBlocked(nodeId: string): boolean {
    return this.blocked.has(nodeId);
  }

  /** Applies a status change here at once and tells the other replicas. */
  async changed(nodeId: string, status: string): Promise<void> {
    const blocked = !USABLE.has(status);
    this.apply(nodeId, blocked);
    await this.live.publish(NodeBlocklist.CHANNEL, JSON.stringify({ nodeId, blocked }));
  }

  private apply(nodeId: string, blocked: boolean): void {
    if (blocked) this.blocked.add(nodeId);
    else this.blocked.delete(nodeId);
  }
}

const USABLE = new Set(["active", "draining", "pending"]);
