/** Validators every wire contract uses: ids, page sizes, cursors. */
import * as v from "valibot";

export const Uuid = (what: string) => v.pipe(v.string(), v.uuid(`must be ${what}`));
/** `limit` query parameter: 1–200, default 50. */
export const Limit = v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.minValue(1), v.maxValue(200)), "50");
export const PageQuery = v.strictObject({ limit: Limit, after: v.optional(Uuid("a cursor")) });
