/** The bounded adapter mailbox (C19P–C19S): drop-oldest, partial drain, consumer lag, closed refusal. */
import { describe, expect, test } from "../fixtures/test.ts";
import { AdapterMailbox } from "./adapter-mailbox.ts";

describe("adapter mailbox", () => {
  test("drops the oldest event when full and counts it", () => {
    const m = new AdapterMailbox<string>(3);
    for (const e of ["a", "b", "c", "d"]) m.push(e);
    expect(m.read().events.map((e) => e.event)).toEqual(["b", "c", "d"]);
    expect(m.counters).toMatchObject({ depth: 3, enqueued: 4, dropped: 1 });
  });

  test("a bounded drain removes only the returned slice; a plain read removes nothing", () => {
    const m = new AdapterMailbox<number>(10);
    for (let i = 0; i < 5; i++) m.push(i);
    expect(m.read({ limit: 2 }).events.length).toBe(2);
    expect(m.read({ drain: true, limit: 2 }).events.map((e) => e.sequence)).toEqual([1, 2]);
    expect(m.read().events.map((e) => e.sequence)).toEqual([3, 4, 5]);
    expect(m.read({ drain: true }).events.length).toBe(3);
    const empty = m.read({ drain: true });
    expect(empty.empty).toBe(true);
    expect(m.counters).toMatchObject({ depth: 0, drained: 5, empty_reads: 1 });
  });

  test("consumers acknowledge by sequence and see their lag", () => {
    const m = new AdapterMailbox<number>(10);
    for (let i = 0; i < 4; i++) m.push(i);
    expect(m.read({ consumerId: "ssh", ackSequence: 3 }).lag).toBe(1);
    expect(m.read({ consumerId: "ssh", ackSequence: 99 }).lag).toBe(0);
    expect(m.read({ consumerId: "other" }).lag).toBe(4);
  });

  test("a closed mailbox refuses use", () => {
    const m = new AdapterMailbox<number>();
    m.push(1);
    m.close();
    expect(() => m.read()).toThrow("mailbox closed");
    expect(() => m.push(2)).toThrow("mailbox closed");
  });
});
