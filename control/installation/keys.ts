/**
 * The keys every replica must share, checked at start against the
 * installation's record of their fingerprints (sql/installation-keys.ts).
 * A replica started with another token key answered 401 to tokens the others
 * issued, and one with another secret key answered `secret.undecryptable`
 * on a TOTP login; now it refuses to start, with one line naming the key and
 * the fix, and writes nothing.
 *
 * The first replica to start records its keys. Token keys (AUTH_TOKEN_KEY,
 * DATA_PLANE_TOKEN_KEY) must then match exactly. Secret master keys rotate
 * (docs/operations.md#rotating-the-secret-master-key), so for them:
 * - a key id the installation knows must be the same key (an id never names two keys);
 * - the replica must hold the installation's active key, since other replicas
 *   seal new secrets with it; as its active key or among its previous keys;
 * - the replica must hold every key some sealed value is still under;
 * - a key id the installation does not know is recorded, and the replica's
 *   active key becomes the installation's active key. That is how a rotation
 *   is recorded, and why a replica that has both keys may start on either
 *   side of one.
 */
import type { Db } from "../../sql/db.ts";
import {
  activateInstallationKey,
  insertInstallationKey,
  listInstallationKeys,
  lockInstallationKeys,
  sealedKeyIds,
  type InstallationKeyRow,
  type KeyPurpose,
} from "../../sql/installation-keys.ts";
import { appendAudit } from "../../sql/audit.ts";
import { systemChange } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newTraceId } from "../../core/ids.ts";
import type { KeyFingerprints } from "../identity.ts";

const REPLICAS_DOC = "docs/operations.md#replicas";
const ROTATION_DOC = "docs/operations.md#rotating-the-secret-master-key";

export interface KeyProblem {
  /** The configuration variable to change. */
  variable: string;
  /** One line: what differs, both fingerprints, and the fix. */
  line: string;
}

/** Start-up refusal: the message is the first problem's line, naming the others' variables. */
export class InstallationKeyMismatch extends DomainError {
  constructor(readonly problems: KeyProblem[]) {
    const [first, ...rest] = problems;
    const also = rest.length ? ` (also differs: ${[...new Set(rest.map((p) => p.variable))].join(", ")})` : "";
    super("installation.key_mismatch", `${first!.line}${also}`, { variables: problems.map((p) => p.variable) });
  }
}

export interface KeyPlan {
  problems: KeyProblem[];
  /** Keys the installation does not know yet. */
  insert: InstallationKeyRow[];
  /** Set when this replica's active secret key is not the installation's active one. */
  activateSecret?: { from: string | null; to: string };
}

/** What the record says against what this replica holds; pure. `sealed`: sealed values per secret key id. */
export function planKeys(recorded: InstallationKeyRow[], mine: KeyFingerprints, sealed: Map<string, number>): KeyPlan {
  const problems: KeyProblem[] = [];
  const insert: InstallationKeyRow[] = [];
  const find = (purpose: KeyPurpose, keyId = "") => recorded.find((r) => r.purpose === purpose && r.keyId === keyId);

  const single = (purpose: KeyPurpose, variable: string, fingerprint: string) => {
    const rec = find(purpose);
    if (!rec) insert.push({ purpose, keyId: "", fingerprint, active: true });
    else if (rec.fingerprint !== fingerprint) {
      problems.push({
        variable,
        line: `${variable} differs from the installation's (fingerprint ${rec.fingerprint}, this replica ${fingerprint}): give every replica the same key; see ${REPLICAS_DOC}`,
      });
    }
  };

  single("auth_token", "AUTH_TOKEN_KEY", mine.authToken);

  const { activeId, byId } = mine.secrets;
  const secretVariable = (id: string) => (id === activeId ? "SECRET_ENCRYPTION_KEY" : "SECRET_ENCRYPTION_PREVIOUS_KEYS");
  for (const [id, fingerprint] of byId) {
    const rec = find("secret_encryption", id);
    if (!rec) insert.push({ purpose: "secret_encryption", keyId: id, fingerprint, active: false });
    else if (rec.fingerprint !== fingerprint) {
      const variable = secretVariable(id);
      problems.push({
        variable,
        line: `${variable} (key id ${id}) differs from the installation's key ${id} (fingerprint ${rec.fingerprint}, this replica ${fingerprint}): give every replica the same key under the same id, and a new key a new id; see ${REPLICAS_DOC}`,
      });
    }
  }
  const installationActive = recorded.find((r) => r.purpose === "secret_encryption" && r.active);
  if (installationActive && !byId.has(installationActive.keyId)) {
    problems.push({
      variable: "SECRET_ENCRYPTION_KEY",
      line: `SECRET_ENCRYPTION_KEY: this replica lacks the installation's active secret key ${installationActive.keyId} (fingerprint ${installationActive.fingerprint}; this replica has ${[...byId.keys()].join(", ")}): give it that key, as SECRET_ENCRYPTION_KEY with SECRET_ENCRYPTION_KEY_ID=${installationActive.keyId} or in SECRET_ENCRYPTION_PREVIOUS_KEYS; see ${ROTATION_DOC}`,
    });
  }
  // Only a key id the installation has not seen may become active: a replica still configured with a
  // retired key would otherwise roll a rotation back and seal new secrets under it.
  if (installationActive && byId.has(installationActive.keyId) && installationActive.keyId !== activeId && find("secret_encryption", activeId)) {
    problems.push({
      variable: "SECRET_ENCRYPTION_KEY",
      line: `SECRET_ENCRYPTION_KEY: this replica's active key ${activeId} is an earlier key of the installation, whose active key is now ${installationActive.keyId}: make ${installationActive.keyId} this replica's SECRET_ENCRYPTION_KEY (SECRET_ENCRYPTION_KEY_ID=${installationActive.keyId}) and keep ${activeId} in SECRET_ENCRYPTION_PREVIOUS_KEYS; see ${ROTATION_DOC}`,
    });
  }
  for (const [id, count] of sealed) {
    if (byId.has(id) || id === installationActive?.keyId) continue; // the active key is reported above
    problems.push({
      variable: "SECRET_ENCRYPTION_PREVIOUS_KEYS",
      line: `SECRET_ENCRYPTION_PREVIOUS_KEYS: ${count} sealed secret${count === 1 ? " is" : "s are"} under key ${id}, which this replica lacks: add ${id}:<key> to SECRET_ENCRYPTION_PREVIOUS_KEYS, and remove it only after POST /api/v1/platform/secrets/rotate; see ${ROTATION_DOC}`,
    });
  }

  single("data_plane_token", "DATA_PLANE_TOKEN_KEY", mine.dataPlaneToken);

  const activateSecret = installationActive?.keyId === activeId ? undefined : { from: installationActive?.keyId ?? null, to: activeId };
  return { problems, insert, activateSecret };
}

export interface KeyCheck {
  /** `purpose` or `secret_encryption:<id>` of each key recorded now. */
  recorded: string[];
  activatedSecret?: { from: string | null; to: string };
}

/**
 * Compares this replica's keys with the installation's and records what is
 * new, in one transaction under an advisory lock (replicas starting together
 * take turns). Throws InstallationKeyMismatch, having written nothing.
 */
export async function checkInstallationKeys(db: Db, mine: KeyFingerprints): Promise<KeyCheck> {
  return db.transaction(async (tx) => {
    await lockInstallationKeys(tx);
    const plan = planKeys(await listInstallationKeys(tx), mine, await sealedKeyIds(tx));
    if (plan.problems.length) throw new InstallationKeyMismatch(plan.problems);
    for (const row of plan.insert) await insertInstallationKey(tx, row);
    if (plan.activateSecret) await activateInstallationKey(tx, "secret_encryption", plan.activateSecret.to);
    const recorded = plan.insert.map((r) => (r.keyId ? `${r.purpose}:${r.keyId}` : r.purpose));
    if (recorded.length || plan.activateSecret) {
      await appendAudit(tx, {
        change: systemChange("startup", newTraceId()),
        action: "installation.keys_recorded",
        targetType: "installation",
        outcome: "success",
        details: { recorded, secret_active_key: mine.secrets.activeId, previous_secret_active_key: plan.activateSecret?.from ?? null },
      });
    }
    return { recorded, activatedSecret: plan.activateSecret };
  });
}
