/**
 * `Db` over embedded PGlite (the default when DATABASE_URL is unset).
 * PGlite is one session: its transaction() holds an exclusive lock, so
 * concurrent callers queue, which gives the same serialisation a row lock
 * would on a server. `dataDir` undefined means in-memory (tests).
 *
 * The data directory holds every row (password hashes included, and the WAL
 * beside them), so it is private: the directory tree 0700, files 0600.
 * PGlite's NodeFS cannot be kept private by a umask: its files come from
 * Emscripten, which applies its own umask (022) and then sets each new file's
 * mode with an explicit chmod (initdb's files land 0666, `pg_internal.init`
 * 0644 whatever the process umask). So the modes are capped where Emscripten
 * creates and chmods files, which holds for files created later (new WAL
 * segments, relation files, stats), and the tree is swept once at open for
 * directories made by an older build.
 */
import { chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite, type PGliteInterface } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";
import type { Db, Row, Tx } from "./db.ts";

export async function openPglite(dataDir?: string): Promise<Db> {
  if (dataDir) await privateTree(dataDir);
  const pg = dataDir ? new PGlite({ fs: new PrivateNodeFS(dataDir) }) : new PGlite();
  await pg.waitReady;
  const wrap = (q: Pick<PGlite, "query" | "exec">): Tx => ({
    query: async <T extends Row>(text: string, params: readonly unknown[] = []) => (await q.query<T>(text, params as unknown[])).rows,
    exec: async (script: string) => {
      await q.exec(script);
    },
  });
  return {
    kind: "pglite",
    ...wrap(pg),
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: () => pg.close(),
  };
}

const PRIVATE = 0o077;

/** Creates `dir` if needed and makes it and everything below owner-only (directories 0700, files 0600). */
export async function privateTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isSymbolicLink()) continue;
    await chmod(join(e.parentPath, e.name), e.isDirectory() ? 0o700 : 0o600);
  }
}

/** The Emscripten NODEFS calls that set a mode on the host file system. */
interface NodeFsOps {
  node_ops: { mknod(parent: unknown, name: string, mode: number, dev: number): unknown; setattr(node: unknown, attr: { mode?: number }): void };
  stream_ops: { setattr(stream: unknown, attr: { mode?: number }): void };
}

/** NodeFS with group and other permission bits cleared on every file and directory it creates or chmods. */
class PrivateNodeFS extends NodeFS {
  override async init(pg: PGliteInterface, opts: Parameters<NodeFS["init"]>[1]): ReturnType<NodeFS["init"]> {
    const { emscriptenOpts } = await super.init(pg as PGlite, opts);
    const capModes = (mod: { NODEFS: unknown }) => {
      // Per PGlite instance: each has its own Emscripten module and NODEFS object.
      const fs = mod.NODEFS as NodeFsOps;
      const { mknod, setattr } = fs.node_ops;
      const streamSetattr = fs.stream_ops.setattr;
      const cap = <A extends { mode?: number }>(attr: A): A => (attr.mode == null ? attr : { ...attr, mode: attr.mode & ~PRIVATE });
      fs.node_ops.mknod = (parent, name, mode, dev) => mknod(parent, name, mode & ~PRIVATE, dev);
      fs.node_ops.setattr = (node, attr) => setattr(node, cap(attr));
      fs.stream_ops.setattr = (stream, attr) => streamSetattr(stream, cap(attr));
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), capModes] } };
  }
}
