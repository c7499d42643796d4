/**
 * LDAP directory sync: everyone the source's user filter finds is admitted
 * (created, linked, role set from their groups, exactly as at sign-in);
 * everyone the source knew who is gone from the directory, or lost every
 * mapped group, is suspended and signed out (the sessions this source let
 * in are revoked, their remote sessions ended). The result (counts, or the
 * failure's code) is kept on the source and audited.
 *
 * `DirectorySyncRunner` is what the directory-sync actor's timer hands a due
 * sync to: it runs syncs one at a time in the background, so the timer
 * scheduler never waits on a directory.
 */
import type { ControlDeps } from "../deps.ts";
import { systemChange, type ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newTraceId } from "../../core/ids.ts";
import type { LdapConfig } from "../../core/contracts/identity-sources.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getSource, listExternalIdentities, recordSyncResult } from "../../sql/identity-sources.ts";
import type { DirectorySyncRunner } from "../../actors/directory-sync/kind.ts";
import { admitInTx, suspendFromSource } from "./admit.ts";
import { withDirectory } from "./ldap-directory.ts";
import { openSourceSecret } from "./secret.ts";

type Deps = Pick<ControlDeps, "db" | "identity" | "clock" | "host" | "log">;

export interface SyncResult {
  outcome: "success" | "failure";
  people: number;
  created: number;
  updated: number;
  suspended: number;
  refused: number;
  error?: string;
}

export async function syncDirectory(deps: Deps, sourceId: string, change: ChangeContext): Promise<SyncResult> {
  const source = await getSource(deps.db, sourceId);
  if (source?.kind !== "ldap") throw new DomainError("identity_source.not_found", "no such LDAP source", { id: sourceId });
  const result: SyncResult = { outcome: "success", people: 0, created: 0, updated: 0, suspended: 0, refused: 0 };
  try {
    if (!source.enabled) throw new DomainError("identity_source.disabled", "identity source disabled");
    const secret = await openSourceSecret(deps.db, deps.identity.keyring, source.id);
    const people = await withDirectory(source.config as LdapConfig, secret, deps.identity.production, (d) => d.people());
    result.people = people.length;
    await deps.host.batch(async (tx, step) => {
      const seen = new Set<string>();
      for (const person of people) {
        seen.add(person.subject);
        const a = await admitInTx(deps, tx, step, source, person, change);
        if (!a.admitted) result.refused++;
        else if (a.created) result.created++;
        else result.updated++;
      }
      for (const known of await listExternalIdentities(tx, source.id)) {
        if (seen.has(known.subject) || known.disabledAt) continue;
        if (await suspendFromSource(tx, step, source, known.userId, "left_directory", change, deps.clock())) result.suspended++;
      }
      await recordSyncResult(tx, source.id, deps.clock(), "success", { ...result });
      await audit(tx, source.organizationId, source.id, change, result);
    });
  } catch (err) {
    result.outcome = "failure";
    result.error = err instanceof DomainError ? err.code : "internal.error";
    deps.log.warn("directory sync failed", { "identity_source.id": source.id, "error.code": result.error, err: err instanceof DomainError ? undefined : err });
    await deps.db.transaction(async (tx) => {
      await recordSyncResult(tx, source.id, deps.clock(), "failure", { error: result.error });
      await audit(tx, source.organizationId, source.id, change, result);
    });
  }
  return result;
}

function audit(tx: Parameters<typeof appendAudit>[0], organizationId: string | null, sourceId: string, change: ChangeContext, r: SyncResult) {
  return appendAudit(tx, {
    change,
    organizationId,
    action: "identity_source.sync",
    targetType: "identity_source",
    targetId: sourceId,
    outcome: r.outcome,
    reason: r.error ?? null,
    details: { ...r },
  });
}

/** Runs due syncs one at a time, in the background; `idle()` resolves when none is queued or running. */
export class SyncRunner implements DirectorySyncRunner {
  private queue: string[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly deps: Deps) {}

  request(sourceId: string): void {
    if (!this.queue.includes(sourceId)) this.queue.push(sourceId);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let id = this.queue.shift(); id; id = this.queue.shift()) {
      await syncDirectory(this.deps, id, systemChange("timer", newTraceId())).catch((err) =>
        this.deps.log.warn("directory sync skipped", { "identity_source.id": id, err }),
      );
    }
  }
}
