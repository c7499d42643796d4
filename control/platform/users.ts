/** Platform-level work on user accounts: the development-mode platform role, and ending an account's sign-in throttle. */
import type { PlatformRole } from "../../core/authz.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { appendAudit } from "../../sql/audit.ts";
import type { Tx } from "../../sql/db.ts";
import { getUserById, setPlatformRole } from "../../sql/users.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import type { ControlDeps } from "../deps.ts";

async function userOr404(tx: Tx, id: string): Promise<void> {
  if (!(await getUserById(tx, id, true))) throw new DomainError("user.not_found", "no such user");
}

/** Dev mode only: strict mode grants platform roles through Product Root signed grants. */
export async function setDevPlatformRole(
  deps: Pick<ControlDeps, "db" | "identity">,
  userId: string,
  role: PlatformRole | null,
  change: ChangeContext,
): Promise<void> {
  if (deps.identity.mode === "strict") throw new DomainError("installation.strict_mode_requires_grant", "use a Product Root signed grant");
  await deps.db.transaction(async (tx) => {
    await userOr404(tx, userId);
    await setPlatformRole(tx, userId, role);
    await appendAudit(tx, { change, action: "platform_role.set_dev", targetType: "user", targetId: userId, outcome: "success", details: { role } });
  });
}

/** Nothing locks an account; this ends its "under attack" state (sources that failed still wait out their own delay). */
export async function unlockUser(deps: Pick<ControlDeps, "db" | "live" | "clock">, userId: string, change: ChangeContext): Promise<void> {
  const user = await getUserById(deps.db, userId);
  if (!user) throw new DomainError("user.not_found", "no such user");
  await new LoginThrottle(deps.live, deps.clock).clearAccount(user.email);
  await appendAudit(deps.db, { change, action: "user.unlock", targetType: "user", targetId: userId, outcome: "success" });
}
