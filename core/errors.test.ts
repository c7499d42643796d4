/** The error catalog is a closed set: a code missing from it fails the compile, and every entry is well formed. */
import { describe, expect, test } from "../fixtures/test.ts";
import { ERROR_CATALOG, isErrorCode } from "./error-catalog.ts";
import { Conflict, DomainError } from "./errors.ts";

describe("error codes", () => {
  test("an unknown code does not compile (checked by the typecheck tier) and is not a code at run time", () => {
    // @ts-expect-error: "cluster.no_such_thing" is not in the catalog
    const wrong = new DomainError("cluster.no_such_thing", "typo");
    expect(isErrorCode(wrong.code)).toBe(false);
    expect(isErrorCode("cluster.not_found")).toBe(true);
  });

  test("every code is area.snake_case, and every 5xx says only the generic fallback", () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
      expect(code).toMatch(/^[a-z_]+\.[a-z_]+$/);
      if (entry.status >= 500) expect(entry.fallback).toBe("Internal server error.");
    }
  });

  test("a conflict keeps the store's error as its cause, for the log", () => {
    const cause = new Error("duplicate key value violates unique constraint");
    const err = new Conflict("cluster.slug_taken", "slug in use", {}, { cause });
    expect(err.cause).toBe(cause);
    expect(err.code).toBe("cluster.slug_taken");
  });
});
