/**
 * What PostgreSQL cannot store, checked before a write rather than learnt
 * from a failed one. A NUL fails `text` (22021) and `jsonb` (22P05); a lone
 * UTF-16 surrogate fails `jsonb` (22P02) and is silently replaced in `text`.
 * Writers that put several callers' rows in one statement check each row
 * with these first, and use `refusedByStore` to tell a row the store refused
 * from a store that is failing.
 */
import { pgError } from "./db.ts";

// A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const storableText = (s: string): boolean => !UNSTORABLE.test(s);

/** The dot path of the first string (key or value) in `value` that PostgreSQL cannot store, or undefined. */
export function unstorablePath(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return storableText(value) ? undefined : path;
  if (typeof value !== "object" || value === null) return undefined;
  for (const [k, item] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (!storableText(k)) return at;
    const bad = unstorablePath(item, at);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/**
 * SQLSTATE classes of a failing store rather than a failing row: connection
 * (08), insufficient resources (53), operator intervention (57), system (58).
 * Retrying such a batch row by row would only repeat the failure per row.
 */
const STORE_FAILURE_CLASSES = new Set(["08", "53", "57", "58"]);

/** The store answered with an error a row's content may have caused (so a smaller batch may succeed). */
export function rowMayCause(err: unknown): boolean {
  const code = pgError(err).code;
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !STORE_FAILURE_CLASSES.has(code.slice(0, 2));
}

/** The store refused a value: data exception (22) or a program limit such as nesting depth (54). */
export function refusedByStore(err: unknown): boolean {
  const code = pgError(err).code;
  return code !== undefined && (code.startsWith("22") || code.startsWith("54"));
}
