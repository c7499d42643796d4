/**
 * The bounded per-session mailbox between a node agent and its adapter
 * runtime (spec C19P–C19S): events get increasing sequence numbers; when
 * full the oldest event is dropped and counted; a read may drain, and a
 * drain with a limit removes only the returned slice; consumers acknowledge
 * by sequence and their lag is visible; a closed mailbox refuses use.
 * Pure: no timers (the long-poll wait is the caller's, bounded by
 * MAILBOX.maxWaitMs).
 */
import { MAILBOX } from "./contracts/adapter.ts";

export interface MailboxEvent<T = unknown> {
  sequence: number;
  event: T;
}
export interface MailboxCounters {
  depth: number;
  enqueued: number;
  drained: number;
  dropped: number;
  reads: number;
  empty_reads: number;
}

export class AdapterMailbox<T = unknown> {
  private events: MailboxEvent<T>[] = [];
  private next = 1;
  private closed = false;
  private readonly acks = new Map<string, number>();
  readonly counters: MailboxCounters = { depth: 0, enqueued: 0, drained: 0, dropped: 0, reads: 0, empty_reads: 0 };

  constructor(readonly capacity: number = MAILBOX.capacity) {}

  push(event: T): number {
    if (this.closed) throw new Error("mailbox closed");
    const sequence = this.next++;
    this.events.push({ sequence, event });
    this.counters.enqueued++;
    if (this.events.length > this.capacity) {
      this.events.shift();
      this.counters.dropped++;
    }
    this.counters.depth = this.events.length;
    return sequence;
  }

  read(o: { drain?: boolean; limit?: number; consumerId?: string; ackSequence?: number } = {}): {
    events: MailboxEvent<T>[];
    empty: boolean;
    lag: number | null;
  } {
    if (this.closed) throw new Error("mailbox closed");
    const limit = Math.min(o.limit ?? MAILBOX.maxDrainLimit, MAILBOX.maxDrainLimit);
    if (o.consumerId && o.ackSequence !== undefined)
      this.acks.set(o.consumerId, Math.max(this.acks.get(o.consumerId) ?? 0, Math.min(o.ackSequence, this.next - 1)));
    const events = this.events.slice(0, limit);
    if (o.drain) {
      this.events.splice(0, events.length);
      this.counters.drained += events.length;
      this.counters.depth = this.events.length;
    }
    this.counters.reads++;
    if (!events.length) this.counters.empty_reads++;
    const acked = o.consumerId ? (this.acks.get(o.consumerId) ?? 0) : null;
    return { events, empty: events.length === 0, lag: acked === null ? null : this.next - 1 - acked };
  }

  close(): void {
    this.closed = true;
    this.events = [];
    this.counters.depth = 0;
  }
}
