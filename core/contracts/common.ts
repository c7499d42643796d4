/**
 * Validators every wire contract uses: ids, page sizes, cursors, and the
 * three rules every free-text string, JSON document and timestamp that the
 * server accepts goes through (`Text`, `JsonObject`, `Timestamp`), so hostile
 * input is refused at the boundary with a 400 instead of failing in
 * PostgreSQL (which refuses NUL in text and jsonb, and lone surrogates in
 * jsonb) or deep in a JSON walk. docs/api.md ("Input rules") documents them.
 */
import * as v from "valibot";

export const Uuid = (what: string) => v.pipe(v.string(), v.uuid(`must be ${what}`));
/** `limit` query parameter: 1–200, default 50. */
export const Limit = v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.minValue(1), v.maxValue(200)), "50");
export const PageQuery = v.strictObject({ limit: Limit, after: v.optional(Uuid("a cursor")) });

/** NUL (PostgreSQL text and jsonb cannot hold it) or a UTF-16 surrogate without its pair (it has no UTF-8 form). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const isStorableText = (s: string): boolean => !UNSTORABLE.test(s);
/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
const CONTROL_LINE = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;
/** The same, but tab, line feed and carriage return are text. */
const CONTROL_MULTILINE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029]/;

export interface TextOptions {
  /** Fewest characters after trimming (default 0). */
  min?: number;
  /** Allow tab, line feed and carriage return (reasons); every other control character is refused either way. */
  multiline?: boolean;
}

/**
 * Free text that PostgreSQL can store. Refused: NUL, lone surrogates and
 * control characters. Then normalized: NFC (so the same name typed on two
 * systems is one string, and a unique name cannot be doubled with combining
 * marks) and trimmed. Length is counted after that, in UTF-16 code units.
 * Not for secrets or passwords: those are kept exactly as sent.
 */
export function Text(max: number, o: TextOptions = {}) {
  return v.pipe(
    v.string(),
    v.check(isStorableText, "must not contain NUL or unpaired surrogate characters"),
    v.check((s) => !(o.multiline ? CONTROL_MULTILINE : CONTROL_LINE).test(s), "must not contain control characters"),
    v.normalize("NFC"),
    v.trim(),
    v.minLength(o.min ?? 0, o.min === 1 ? "must not be empty" : `must be at least ${o.min} characters`),
    v.maxLength(max, `must be at most ${max} characters`),
  );
}

/**
 * Text kept exactly as sent (passwords, credentials, PEM): no trimming, no
 * normalization, as it must match byte for byte later; but storable and
 * bounded like any other text.
 */
export function ExactText(max: number) {
  return v.pipe(
    v.string(),
    v.check(isStorableText, "must not contain NUL or unpaired surrogate characters"),
    v.maxLength(max, `must be at most ${max} characters`),
  );
}

export interface JsonLimits {
  /** Largest size as UTF-8 JSON (`JSON.stringify`), in bytes. */
  maxBytes: number;
  /** Deepest nesting: 1 is a flat object. Default 8. */
  maxDepth?: number;
  /** Most object keys plus array items, counted over the whole document. Default 512. */
  maxEntries?: number;
  /** Longest key, in UTF-16 code units. Default 64. */
  maxKeyLength?: number;
}

export const JSON_DEFAULTS = { maxDepth: 8, maxEntries: 512, maxKeyLength: 64 } as const;

/**
 * Why `value` is not a bounded JSON document PostgreSQL can store, or null.
 * Walks without recursion and stops at the first problem, so a document
 * nested 20,000 deep costs no stack and at most `maxDepth` levels of work.
 */
export function jsonProblem(value: unknown, l: JsonLimits): string | null {
  const maxDepth = l.maxDepth ?? JSON_DEFAULTS.maxDepth;
  const maxEntries = l.maxEntries ?? JSON_DEFAULTS.maxEntries;
  const maxKey = l.maxKeyLength ?? JSON_DEFAULTS.maxKeyLength;
  let entries = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x === "boolean") continue;
    if (typeof x === "number") {
      if (!Number.isFinite(x)) return "numbers must be finite";
      continue;
    }
    if (typeof x === "string") {
      if (!isStorableText(x)) return "strings must not contain NUL or unpaired surrogate characters";
      continue;
    }
    if (typeof x !== "object") return "must be plain JSON";
    if (depth + 1 > maxDepth) return `must nest at most ${maxDepth} levels deep`;
    if (Array.isArray(x)) {
      entries += x.length;
      if (entries > maxEntries) return `must have at most ${maxEntries} keys and array items in all`;
      for (const item of x) stack.push([item, depth + 1]);
      continue;
    }
    const keys = Object.keys(x);
    entries += keys.length;
    if (entries > maxEntries) return `must have at most ${maxEntries} keys and array items in all`;
    for (const k of keys) {
      if (k.length > maxKey) return `keys must be at most ${maxKey} characters`;
      if (!isStorableText(k)) return "keys must not contain NUL or unpaired surrogate characters";
      stack.push([(x as Record<string, unknown>)[k], depth + 1]);
    }
  }
  if (utf8Length(JSON.stringify(value)) > l.maxBytes) return `must be at most ${l.maxBytes} bytes as JSON`;
  return null;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A checked pair: lone surrogates were refused before.
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * A JSON object of free-form data (metadata, facts, telemetry): stored as
 * sent, not normalized (keys could collide, and agents' data is compared
 * as reported), but bounded in size, depth and entries, and refused when a
 * key or string value is not storable text.
 */
export function JsonObject(l: JsonLimits) {
  return v.pipe(
    // Not v.record: it reads an array as an object with keys "0", "1", ...
    v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "must be a JSON object"),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const problem = jsonProblem(dataset.value, l);
      if (problem) addIssue({ message: problem });
    }),
  );
}

/** The instants a timestamp input may name: 1970 up to the end of 9999. */
export const TIMESTAMP_RANGE = { min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) } as const;
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2})(?::?(\d{2}))?)$/;

/** Milliseconds since the epoch of an ISO 8601 timestamp that names a real instant in range, else null. */
export function parseTimestamp(s: string): number | null {
  const m = ISO.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? "0").padEnd(3, "0").slice(0, 3));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (month < 1 || month > 12 || day < 1 || day > [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offset = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? "0");
    if (oh > 23 || om > 59) return null;
    offset = (m[9] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  // Date.UTC reads years 0–99 as 1900–1999; the range check below refuses them anyway.
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset;
  return t >= TIMESTAMP_RANGE.min && t <= TIMESTAMP_RANGE.max ? t : null;
}

/**
 * An ISO 8601 timestamp with a zone (`2026-02-28T10:00:00Z`, `...+01:00`)
 * that names a real instant (no 30 February, no hour 24) between 1970 and
 * 9999; handed on as its UTC ISO form.
 */
export const Timestamp = v.pipe(
  v.string(),
  v.maxLength(40),
  v.check((s) => parseTimestamp(s) !== null, "must be an ISO 8601 timestamp with a zone, a real date between 1970 and 9999"),
  v.transform((s) => new Date(parseTimestamp(s)!).toISOString()),
);
