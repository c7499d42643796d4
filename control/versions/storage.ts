/**
 * This replica's version storage: the release files (verified, served) and
 * the uploads waiting for the generation that lists them (staged, never
 * served), both content-addressed on disk under DATA_DIR/versions; and the
 * cached update policy that heartbeats are answered from (update-answer.ts).
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import { DomainError } from "../../core/errors.ts";
import { type ArtifactStore, DiskArtifactStore } from "./artifact-store.ts";
import { UpdatePolicyCache } from "./update-answer.ts";

export class VersionStorage {
  /** Files a verified generation lists: what agents and update caches download. */
  readonly store: ArtifactStore;
  /** Uploaded files not yet listed by a verified generation. */
  readonly staging: ArtifactStore;
  readonly policy = new UpdatePolicyCache();

  constructor(dir: string, store?: ArtifactStore) {
    this.store = store ?? new DiskArtifactStore(join(dir, "store"));
    this.staging = new DiskArtifactStore(join(dir, "staging"));
  }

  /** Keeps an upload whose bytes hash to `sha256`; anything else is refused and nothing is kept. */
  async stage(sha256: string, bytes: Uint8Array): Promise<{ sha256: string; length: number }> {
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== sha256) throw new DomainError("versions.blob_hash_mismatch", "the uploaded bytes do not hash to the sha256 in the path", { sha256 });
    await this.staging.put(bytes);
    return { sha256, length: bytes.length };
  }
}
