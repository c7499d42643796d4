import { describe, expect, test } from "../fixtures/test.ts";
import { isTraceId, newId, newTraceId } from "./ids.ts";

describe("ids", () => {
  test("newId is a UUIDv7 that sorts by creation time", () => {
    const a = newId(1_700_000_000_000);
    const b = newId(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a[14]).toBe("7");
    expect(a < b).toBe(true);
  });

  test("trace ids are 32 lowercase hex and the all-zero id is invalid", () => {
    expect(isTraceId(newTraceId())).toBe(true);
    expect(isTraceId("0".repeat(32))).toBe(false);
    expect(isTraceId("ABC")).toBe(false);
  });
});
