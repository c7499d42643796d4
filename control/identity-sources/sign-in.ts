/**
 * The two ways a browser ends a single sign-on: redeeming the OIDC grant
 * (with the binding value only the browser that started it has, and a TOTP
 * code when one is still needed), and LDAP's bind-and-search with a login
 * name and password. LDAP attempts are throttled like password sign-ins,
 * per login name and source.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { constantTimeEqual, sha256Hex } from "../../core/crypto/bytes.ts";
import type { LdapConfig } from "../../core/contracts/identity-sources.ts";
import { getSource } from "../../sql/identity-sources.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { admitInTx } from "./admit.ts";
import { auditSourceLogin } from "./login-audit.ts";
import { finishSignIn, type SsoTokens } from "./finish-sign-in.ts";
import { withDirectory } from "./ldap-directory.ts";
import { usableSource } from "./oidc.ts";
import { openSourceSecret } from "./secret.ts";
import { peekGrant, spendGrant } from "./sign-in-state.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "identity" | "clock" | "host" | "log">;

interface Client {
  deviceId?: string;
  totpCode?: string;
  ip: string;
  userAgent: string | null;
}

export async function redeemGrant(deps: Deps, input: Client & { grant: string; binding: string }, change: ChangeContext): Promise<SsoTokens> {
  const g = await peekGrant(deps.live, input.grant);
  const proof = new TextEncoder().encode(await sha256Hex(input.binding));
  if (!g || !constantTimeEqual(proof, new TextEncoder().encode(g.bindingHash)))
    throw new DomainError("auth.sso_grant_invalid", "unknown grant or wrong binding");
  const source = await getSource(deps.db, g.sourceId);
  if (!source?.enabled) throw new DomainError("identity_source.disabled", "identity source disabled");
  return finishSignIn(
    deps,
    {
      ...input,
      userId: g.userId,
      sourceId: g.sourceId,
      organizationId: source.organizationId,
      providerMfa: g.providerMfa,
      claim: () => spendGrant(deps.live, input.grant),
    },
    change,
  );
}

export async function ldapSignIn(
  deps: Deps,
  input: Client & { sourceId: string; username: string; password: string },
  change: ChangeContext,
): Promise<SsoTokens> {
  const source = await usableSource(deps, input.sourceId, "ldap");
  const throttle = new LoginThrottle(deps.live, deps.clock);
  const key = `ldap:${source.id}:${input.username.toLowerCase()}`;
  const gate = await throttle.gate(key, input.ip);
  if (gate.retryAfterMs > 0) throw new DomainError("auth.rate_limited", "sign-in held back", { retry_after_seconds: Math.ceil(gate.retryAfterMs / 1000) });
  const secret = await openSourceSecret(deps.db, deps.identity.keyring, source.id);
  const person = await withDirectory(source.config as LdapConfig, secret, deps.identity.production, (d) => d.authenticate(input.username, input.password));
  if (!person) {
    await throttle.failed(key, input.ip);
    await auditSourceLogin(deps.db, change, source, "failure", "bad_password");
    throw new DomainError("auth.invalid_credentials", "directory refused the login");
  }
  const admission = await deps.host.batch((tx, step) => admitInTx(deps, tx, step, source, person, change));
  if (!admission.admitted) {
    await auditSourceLogin(deps.db, change, source, "denied", admission.reason);
    throw new DomainError(admission.refusal, "not admitted");
  }
  await throttle.succeeded(key, input.ip);
  return finishSignIn(deps, { ...input, userId: admission.userId, sourceId: source.id, organizationId: source.organizationId, providerMfa: false }, change);
}
