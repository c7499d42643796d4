/**
 * Lifts a plain read of sql/ (transaction first) into a control read (deps
 * first), so `http/` reads through `control/` and never holds a store.
 * Reads that need more than one query or a scope check are written out in
 * their area's queries.ts instead.
 */
import type { Tx } from "../sql/db.ts";
import type { ControlDeps } from "./deps.ts";

export const reader =
  <A extends unknown[], R>(read: (tx: Tx, ...args: A) => Promise<R>) =>
  (deps: Pick<ControlDeps, "db">, ...args: A): Promise<R> =>
    read(deps.db, ...args);
