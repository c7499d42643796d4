import { describe, expect, test } from "bun:test";
import { isTraceId, isUuid, newId, newTraceId } from "./ids.ts";

describe("ids", () => {
  test("newId is a UUIDv7 that sorts by creation time", () => {
    const a = newId(1_700_000_000_000);
    const b = newId(1_700_000_000_001);
    expect(isUuid(a)).toBe(true);
    expect(a[14]).toBe("7");
    expect(a < b).toBe(true);
  });

  test("trace ids are 32 lowercase hex and the all-zero id is invalid", () => {
    expect(isTraceId(newTraceId())).toBe(true);
    expect(isTraceId("0".repeat(32))).toBe(false);
    expect(isTraceId("ABC")).toBe(false);
  });
});
