/** A user's own sign-in sessions and trusted devices: list, and revoke a device. */
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { appendAudit } from "../../sql/audit.ts";
import { listSessions, listTrustedDevices, revokeTrustedDevice } from "../../sql/auth-sessions.ts";
import type { ControlDeps } from "../deps.ts";
import { reader } from "../read.ts";

export const ownSessions = reader(listSessions);
export const ownDevices = reader(listTrustedDevices);

export async function revokeOwnDevice(deps: Pick<ControlDeps, "db">, userId: string, deviceId: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    if (!(await revokeTrustedDevice(tx, userId, deviceId))) throw new DomainError("auth.device_not_found", "no such device");
    await appendAudit(tx, { change, action: "auth.device_revoked", targetType: "trusted_device", targetId: deviceId, outcome: "success" });
  });
}
