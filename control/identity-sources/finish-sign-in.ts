/**
 * The end of every single sign-on: the second factor where one is still
 * needed, then the same auth session and refresh-token family as a password
 * sign-in (auth/service.ts openAuthSession), remembering which source let
 * the session in so the source can revoke it.
 *
 * MFA: a provider's proof counts when the source's policy accepts it
 * (`providerMfa`); otherwise a user with TOTP gives a code, except on a
 * trusted device, exactly as with a password.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { appendAudit } from "../../sql/audit.ts";
import { findTrustedDevice } from "../../sql/auth-sessions.ts";
import { setSessionSource } from "../../sql/identity-sources.ts";
import { getUserById } from "../../sql/users.ts";
import { consumeTotp, deviceHash, openAuthSession, type TokenPair } from "../auth/service.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "identity" | "clock" | "log">;

export interface FinishInput {
  userId: string;
  sourceId: string;
  organizationId: string | null;
  providerMfa: boolean;
  deviceId?: string;
  totpCode?: string;
  /** Runs after the second factor, before the session opens: false refuses (a grant someone else spent). */
  claim?: () => Promise<boolean>;
  ip: string;
  userAgent: string | null;
}

export type SsoTokens = TokenPair & { mfa_verified: boolean; device_trusted: boolean };

export async function finishSignIn(deps: Deps, input: FinishInput, change: ChangeContext): Promise<SsoTokens> {
  const now = deps.clock();
  const user = await getUserById(deps.db, input.userId);
  if (user?.status !== "active") throw new DomainError("auth.account_disabled", "account disabled");
  const device = await deviceHash(user.id, input.deviceId);
  const trusted = Boolean(await findTrustedDevice(deps.db, user.id, device));
  let mfaAt: Date | null = input.providerMfa ? now : null;
  if (!mfaAt && user.totpEnabledAt) {
    if (input.totpCode !== undefined) {
      if (!(await consumeTotp(deps, user, input.totpCode))) {
        await appendAudit(deps.db, {
          change,
          organizationId: input.organizationId,
          action: "auth.login",
          targetType: "user",
          targetId: user.id,
          outcome: "failure",
          reason: "bad_totp",
          details: { identity_source_id: input.sourceId },
        });
        throw new DomainError("auth.mfa_invalid", "wrong TOTP code");
      }
      mfaAt = now;
    } else if (!trusted) {
      throw new DomainError("auth.mfa_required", "second factor required");
    }
  }
  if (input.claim && !(await input.claim())) throw new DomainError("auth.sso_grant_invalid", "sign-in grant already spent");
  const pair = await deps.db.transaction(async (tx) => {
    const issued = await openAuthSession(deps, tx, { userId: user.id, deviceHash: device, mfaAt, ip: input.ip, userAgent: input.userAgent, now });
    await setSessionSource(tx, issued.session_id, input.sourceId);
    await appendAudit(tx, {
      change: { ...change, author: { type: "user", id: user.id } },
      organizationId: input.organizationId,
      action: "auth.login",
      targetType: "auth_session",
      targetId: issued.session_id,
      outcome: "success",
      details: { identity_source_id: input.sourceId, mfa: mfaAt !== null, provider_mfa: input.providerMfa, device_trusted: trusted },
    });
    return issued;
  });
  return { ...pair, mfa_verified: mfaAt !== null, device_trusted: trusted };
}
