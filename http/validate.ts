/**
 * valibot validation for every input target (json, query, param). Failures
 * become `request.unknown_field` when the only problem is extra keys (strict
 * objects), `request.validation_failed` otherwise, with each issue's path.
 * Each validator is marked with its schema for the OpenAPI document.
 */
import { validator } from "hono/validator";
import * as v from "valibot";
import { HttpError } from "./errors.ts";
import { readsBody } from "./middleware/json-body/index.ts";
import { mark, type Target } from "./openapi/registry.ts";

export function valid<T extends Target, S extends v.GenericSchema>(target: T, schema: S) {
  const mw = validator(target, (value): v.InferOutput<S> => {
    // Every body of this API is an object; valibot would read an array as an object with keys "0", "1", ...
    if (target === "json" && (typeof value !== "object" || value === null || Array.isArray(value))) {
      throw new HttpError("request.validation_failed", "body must be a JSON object", { target, issues: [{ path: "", message: "must be a JSON object" }] });
    }
    const r = v.safeParse(schema, value);
    if (r.success) return r.output;
    // A strict object reports an extra key as expecting `never`; a missing key expects the key.
    const issues = r.issues.map((i) => ({ path: v.getDotPath(i) ?? "", message: i.message, unknown: i.type === "strict_object" && i.expected === "never" }));
    const unknownOnly = issues.every((i) => i.unknown);
    throw new HttpError(unknownOnly ? "request.unknown_field" : "request.validation_failed", `invalid ${target}`, {
      target,
      issues: issues.map(({ path, message }) => ({ path, message })),
    });
  });
  // Only a route with a JSON validator takes a body; every other route refuses one (middleware/json-body).
  // Marked with its schema: the OpenAPI document (openapi/document.ts) is built from these marks.
  return mark(target === "json" ? readsBody(mw) : mw, { kind: "validator", target, schema });
}
