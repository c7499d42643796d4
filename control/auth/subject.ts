/**
 * Builds the authorization subject of a request: effective platform roles
 * (strict mode: only roles backed by a valid Product Root signed grant for
 * this installation and this user's email; dev mode: the users row),
 * organization memberships, and the session's step-up state.
 */
import type { Subject, PlatformRole } from "../../core/authz.ts";
import { verifyActivation, verifyGrant } from "../../core/crypto/product-root.ts";
import type { Tx } from "../../sql/db.ts";
import { activeGrantsOf, getInstallation } from "../../sql/installation.ts";
import { membershipsOf } from "../../sql/organizations.ts";
import type { UserRow } from "../../sql/users.ts";
import type { SessionRow } from "../../sql/auth-sessions.ts";
import { findTrustedDevice } from "../../sql/auth-sessions.ts";
import type { Identity } from "../identity.ts";

export async function effectivePlatformRoles(tx: Tx, identity: Identity, user: UserRow, now: Date): Promise<PlatformRole[]> {
  if (identity.mode === "dev") return user.platformRole ? [user.platformRole] : [];
  if (!identity.productRoot) return [];
  const installation = await getInstallation(tx);
  if (!installation) return [];
  const roles = new Set<PlatformRole>();
  for (const g of await activeGrantsOf(tx, user.id)) {
    const grant = await verifyGrantOrActivation(identity.productRoot.key, g.jws, now);
    if (!grant) continue;
    if (grant.installationId !== installation.installationId || grant.email !== user.email || grant.role !== g.role) continue;
    roles.add(g.role);
  }
  return [...roles];
}

/** The first owner's grant is the activation manifest itself. */
async function verifyGrantOrActivation(key: CryptoKey, jws: string, now: Date): Promise<{ installationId: string; email: string; role: PlatformRole } | null> {
  const grant = await verifyGrant(key, jws, now).catch(() => null);
  if (grant) return { installationId: grant.installation_id, email: grant.subject_email, role: grant.role };
  // An activation stays valid as the owner's grant after its own activation deadline.
  const activation = await verifyActivation(key, jws, new Date(0)).catch(() => null);
  return activation ? { installationId: activation.installation_id, email: activation.owner_email, role: "platform_owner" } : null;
}

export async function loadSubject(tx: Tx, identity: Identity, user: UserRow, session: SessionRow, now: Date): Promise<Subject> {
  return {
    userId: user.id,
    platformRoles: await effectivePlatformRoles(tx, identity, user, now),
    memberships: await membershipsOf(tx, user.id),
    mfaEnrolled: user.totpEnabledAt !== null,
    mfaAt: session.mfaAt,
    deviceTrusted: Boolean(await findTrustedDevice(tx, user.id, session.deviceHash)),
  };
}
