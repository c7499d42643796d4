/**
 * Installation authority: the first-owner bootstrap (strict: a Product Root
 * signed activation manifest; dev: an explicit, logged insecure bootstrap)
 * and Product Root signed platform role grants.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { Conflict, DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { verifyActivation, verifyGrant } from "../../core/crypto/product-root.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getInstallation, grantExists, insertGrant, insertInstallation, revokeGrant } from "../../sql/installation.ts";
import { getUserByEmail, insertUser } from "../../sql/users.ts";
import { hashPassword } from "../auth/password.ts";
import { onUniqueViolation } from "../../sql/db.ts";

type Deps = Pick<ControlDeps, "db" | "identity" | "clock" | "log">;

export type BootstrapInput = { activation: string; password: string; display_name?: string } | { email: string; password: string; display_name: string };

export async function bootstrapOwner(
  deps: Deps,
  input: BootstrapInput,
  change: ChangeContext,
): Promise<{ user_id: string; installation_id: string; mode: string }> {
  const { identity } = deps;
  const now = deps.clock();
  if (await getInstallation(deps.db)) throw new DomainError("installation.already_activated", "installation already has an owner");

  let email: string,
    displayName: string,
    jws: string | null = null,
    installationId: string;
  if (identity.mode === "strict") {
    if (!("activation" in input)) throw new DomainError("installation.activation_required", "strict mode needs a signed activation manifest");
    const manifest = await verifyActivation(identity.productRoot!.key, input.activation, now);
    email = manifest.owner_email;
    displayName = input.display_name ?? manifest.owner_display_name ?? manifest.owner_email;
    jws = input.activation;
    installationId = manifest.installation_id;
  } else {
    if (!identity.insecureBootstrap)
      throw new DomainError("installation.insecure_bootstrap_disabled", "set INSTALLATION_INSECURE_BOOTSTRAP_ENABLED=true for a dev bootstrap");
    if (!("email" in input))
      throw new DomainError("request.validation_failed", "dev bootstrap needs email, password and display_name", { fields: ["email", "display_name"] });
    email = input.email;
    displayName = input.display_name;
    installationId = newId();
    deps.log.warn("insecure first-owner bootstrap", { email_domain: email.split("@")[1] });
  }

  const userId = newId(now.getTime());
  const passwordHash = await hashPassword(input.password);
  await deps.db.transaction(async (tx) => {
    const won = await insertInstallation(tx, {
      installationId,
      mode: identity.mode,
      productRootFingerprint: identity.productRoot?.fingerprint ?? null,
      activationJws: jws,
      insecureBootstrap: identity.mode === "dev",
    });
    if (!won) throw new DomainError("installation.already_activated", "installation already has an owner");
    await insertUser(tx, { id: userId, email, displayName, passwordHash, platformRole: "platform_owner" });
    if (jws) await insertGrant(tx, { id: newId(), userId, role: "platform_owner", jws, keyFingerprint: identity.productRoot!.fingerprint });
    await appendAudit(tx, {
      change: { ...change, author: { type: "user", id: userId } },
      action: identity.mode === "strict" ? "installation.bootstrap_owner" : "installation.insecure_bootstrap_owner",
      targetType: "installation",
      targetId: installationId,
      outcome: "success",
      details: { mode: identity.mode },
    });
  });
  return { user_id: userId, installation_id: installationId, mode: identity.mode };
}

export async function recordGrant(deps: Deps, jws: string, change: ChangeContext): Promise<{ id: string; user_id: string; role: string }> {
  const { identity } = deps;
  if (identity.mode !== "strict" || !identity.productRoot)
    throw new DomainError("installation.strict_mode_requires_grant", "signed grants are used in strict mode only");
  const grant = await verifyGrant(identity.productRoot.key, jws, deps.clock());
  return deps.db.transaction(async (tx) => {
    const installation = await getInstallation(tx);
    if (!installation) throw new DomainError("installation.not_activated", "no owner yet");
    if (grant.installation_id !== installation.installationId) throw new DomainError("installation.wrong_installation", "grant names another installation");
    const user = await getUserByEmail(tx, grant.subject_email);
    if (!user) throw new DomainError("user.not_found", "no user with the grant's email", { email: grant.subject_email });
    if (await grantExists(tx, grant.grant_id)) throw new DomainError("installation.grant_exists", "grant already recorded");
    await insertGrant(tx, { id: grant.grant_id, userId: user.id, role: grant.role, jws, keyFingerprint: identity.productRoot!.fingerprint }).catch(
      onUniqueViolation((cause) => new Conflict("installation.grant_exists", "grant already recorded", {}, { cause })),
    );
    await appendAudit(tx, {
      change,
      action: "platform_role.grant",
      targetType: "user",
      targetId: user.id,
      outcome: "success",
      details: { role: grant.role, grant_id: grant.grant_id },
    });
    return { id: grant.grant_id, user_id: user.id, role: grant.role };
  });
}

export async function revokeGrantById(deps: Deps, id: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    if (!(await revokeGrant(tx, id))) throw new DomainError("installation.grant_not_found", "no active grant with that id");
    await appendAudit(tx, { change, action: "platform_role.revoke", targetType: "platform_role_grant", targetId: id, outcome: "success" });
  });
}
