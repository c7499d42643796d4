/**
 * Drives the pure lease keeper (lease-keeper.ts) with a clock and real
 * effects: renewals and releases through the node-agent API, forwarding
 * started and stopped on the data plane, history facts to a recorder. One
 * runner per VPN connection this node is assigned to; the snapshot handler
 * calls `assign` / `unassign`, the drain path calls `release`.
 */
import type { Clock, Timer } from "../clock.ts";
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { initialKeeper, nextWake, stepKeeper, type KeeperConfig, type KeeperInput, type KeeperState } from "./lease-keeper.ts";

export type RenewAnswer = { status: "renewed"; ttl_seconds: number; release_requested: boolean } | { status: "refused"; reason: string };

/** The control plane's side, as the agent's client calls it. */
export interface LeasePort {
  renew(connectionId: string, epoch: number): Promise<RenewAnswer>;
  release(connectionId: string, epoch: number): Promise<void>;
}

/** The data plane's side: the tunnel and its forwarding under an epoch (crates/fabric-tun). */
export interface ForwardingPort {
  start(connectionId: string, epoch: number): void;
  /** Forwarding of `epoch` must end by itself at local time `until` (ms) unless held again: the lease deadline. */
  hold(connectionId: string, epoch: number, until: number): void;
  stop(connectionId: string, epoch: number, reason: string): void;
}

export class VpnLeaseRunner {
  private state: KeeperState = initialKeeper;
  private timer: Timer | undefined;
  private closed = false;

  constructor(
    private readonly cfg: KeeperConfig,
    private readonly clock: Clock,
    private readonly lease: LeasePort,
    private readonly forwarding: ForwardingPort,
    private readonly record: (e: VpnHistoryEvent) => void,
  ) {}

  get phase(): KeeperState["phase"] {
    return this.state.phase;
  }

  get epoch(): number {
    return this.state.epoch;
  }

  assign(epoch: number, ttlMs: number): void {
    this.feed({ type: "assigned", epoch, ttlMs, at: this.now() });
  }

  unassign(): void {
    this.feed({ type: "unassigned", at: this.now() });
  }

  /** Drain: stop forwarding, then hand the lease back. */
  release(): void {
    this.feed({ type: "release_requested", at: this.now() });
  }

  /** Stops the timer; forwarding is stopped first when it runs. */
  close(): void {
    this.unassign();
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private feed(input: KeeperInput): void {
    if (this.closed) return;
    const [next, outputs] = stepKeeper(this.cfg, this.state, input);
    this.state = next;
    const id = this.cfg.connectionId;
    for (const o of outputs) {
      if (o.type === "record") this.record(o.event);
      else if (o.type === "start_forwarding") this.forwarding.start(id, o.epoch);
      else if (o.type === "hold_forwarding") this.forwarding.hold(id, o.epoch, o.until);
      else if (o.type === "stop_forwarding") this.forwarding.stop(id, o.epoch, o.reason);
      else if (o.type === "renew") this.renew(o.epoch, o.at);
      else if (o.type === "release") void this.lease.release(id, o.epoch).catch(() => {});
    }
    this.arm();
  }

  private renew(epoch: number, sentAt: number): void {
    this.lease.renew(this.cfg.connectionId, epoch).then(
      (a) =>
        this.feed(
          a.status === "renewed"
            ? { type: "renew_ok", sentAt, ttlMs: a.ttl_seconds * 1000, releaseRequested: a.release_requested, at: this.now() }
            : { type: "renew_refused", reason: a.reason, at: this.now() },
        ),
      // Unreachable or an error answer: the lease may still be ours, so retry until the deadline.
      () => this.feed({ type: "renew_failed", at: this.now() }),
    );
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const wake = nextWake(this.state);
    if (wake === null || this.closed) return;
    this.timer = this.clock.setTimeout(() => this.feed({ type: "tick", at: this.now() }), Math.max(0, wake - this.now()));
  }
}
