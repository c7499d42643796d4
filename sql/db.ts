/**
 * The one database seam. `Db` has the same API over a PostgreSQL server
 * (porsager `postgres`) and embedded PGlite, so repositories, migrations and
 * the actor host never know which one runs. SQL uses $1-style parameters;
 * JSON goes in as text and is cast (`$1::jsonb`) so both drivers agree.
 * Nothing outside sql/ imports a driver.
 */
export type Row = Record<string, unknown>;

export interface Tx {
  /** One parameterised statement; returns its rows. */
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Db extends Tx {
  readonly kind: "postgres" | "pglite";
  /** Runs `fn` in one transaction: commit on return, rollback on throw. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function one<T extends Row>(tx: Tx, text: string, params?: readonly unknown[]): Promise<T | undefined> {
  const rows = await tx.query<T>(text, params);
  return rows[0];
}

/** PostgreSQL error fields both drivers expose, read defensively. */
export interface PgErrorInfo {
  code?: string;
  constraint?: string;
}
export function pgError(err: unknown): PgErrorInfo {
  if (typeof err !== "object" || err === null) return {};
  const e = err as Record<string, unknown>;
  return {
    code: typeof e.code === "string" ? e.code : undefined,
    constraint: typeof e.constraint_name === "string" ? e.constraint_name : typeof e.constraint === "string" ? e.constraint : undefined,
  };
}

export const UNIQUE_VIOLATION = "23505";

/** True when `err` is PostgreSQL's unique violation (of `constraint`, when one is named). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const pg = pgError(err);
  return pg.code === UNIQUE_VIOLATION && (constraint === undefined || pg.constraint === constraint);
}

/**
 * A `.catch` handler for a write: a unique violation (of `constraint`, when
 * named) becomes the domain error `conflict` makes from it (keep it as the
 * cause); anything else is rethrown unchanged.
 */
export function onUniqueViolation(conflict: (cause: unknown) => Error, constraint?: string): (err: unknown) => never {
  return (err) => {
    throw isUniqueViolation(err, constraint) ? conflict(err) : err;
  };
}

/** A PostgreSQL array literal, so one parameter carries a whole column in both drivers. */
export function pgArray(values: (string | null)[]): string {
  return `{${values.map((v) => (v === null ? "NULL" : `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`)).join(",")}}`;
}
