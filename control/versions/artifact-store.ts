/**
 * Where version storage keeps release files: content-addressed by sha256,
 * so a file is stored once however many releases list it, and a name can
 * never point at other bytes. Behind an interface so an object store can
 * replace the disk; the metadata that says which file is which lives in
 * PostgreSQL (sql/versions.ts).
 */
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

const SHA256 = /^[0-9a-f]{64}$/;

export interface ArtifactStore {
  /** Stores bytes under their sha256 (which the caller has verified); returns it. Idempotent. */
  put(bytes: Uint8Array): Promise<string>;
  /** The bytes stored under `sha256`, or undefined. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  has(sha256: string): Promise<boolean>;
  /** Forgets a file (staged uploads, once a verified generation moved them into the store). */
  remove(sha256: string): Promise<void>;
}

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/**
 * A directory of files named by their sha256 (`ab/abcdef…`). Writes go to a
 * temporary file that is synced and then renamed, so a reader (or a crash)
 * never sees a partial file under a hash name.
 */
export class DiskArtifactStore implements ArtifactStore {
  constructor(private readonly dir: string) {}

  private pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error("not a sha256");
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const sha = sha256Hex(bytes);
    const file = this.pathOf(sha);
    if (await this.has(sha)) return sha;
    await mkdir(join(this.dir, sha.slice(0, 2)), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${process.pid}-${crypto.randomUUID()}`;
    const handle = await open(tmp, "wx", 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file).catch(async (err) => {
      await rm(tmp, { force: true });
      throw err;
    });
    return sha;
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    if (!SHA256.test(sha256)) return undefined;
    return readFile(this.pathOf(sha256)).then(
      (b) => new Uint8Array(b),
      () => undefined,
    );
  }

  async remove(sha256: string): Promise<void> {
    if (SHA256.test(sha256)) await rm(this.pathOf(sha256), { force: true });
  }

  async has(sha256: string): Promise<boolean> {
    if (!SHA256.test(sha256)) return false;
    return stat(this.pathOf(sha256)).then(
      (s) => s.isFile(),
      () => false,
    );
  }
}
