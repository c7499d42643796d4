/**
 * OpenID Connect sign-in with openid-client: discovery, authorization code
 * with PKCE (S256), state and nonce; the ID token's issuer, audience, expiry,
 * nonce and signature (enableNonRepudiationChecks: against the provider's
 * published keys) are checked by the library, `at_hash` here. A verified
 * answer is admitted (admit.ts) and becomes a single-use sign-in grant the
 * browser redeems (redeem.ts); nothing about tokens travels in a query.
 *
 * A plain-HTTP issuer works only outside production (a provider on
 * loopback for development and tests).
 */
import * as client from "openid-client";
import { decodeProtectedHeader } from "jose";
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError, type ErrorCode } from "../../core/errors.ts";
import { atHashMatches } from "../../core/crypto/at-hash.ts";
import { groupsFromClaim, providerProvedMfa } from "../../core/identity-mapping.ts";
import type { OidcConfig } from "../../core/contracts/identity-sources.ts";
import { getSource, type SourceRow } from "../../sql/identity-sources.ts";
import { admitInTx, type ExternalPerson } from "./admit.ts";
import { auditSourceLogin } from "./login-audit.ts";
import { openSourceSecret } from "./secret.ts";
import { randomValue, saveAttempt, saveGrant, takeAttempt } from "./sign-in-state.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "identity" | "clock" | "host" | "log">;

/** An enabled source of this kind, or why not. */
export async function usableSource(deps: Pick<Deps, "db">, sourceId: string, kind: "oidc" | "ldap"): Promise<SourceRow> {
  const source = await getSource(deps.db, sourceId);
  if (!source) throw new DomainError("identity_source.not_found", "no such identity source", { id: sourceId });
  if (source.kind !== kind) throw new DomainError("identity_source.wrong_kind", `not an ${kind} source`, { kind: source.kind });
  if (!source.enabled) throw new DomainError("identity_source.disabled", "identity source disabled");
  return source;
}

/** The provider's configuration from discovery; a provider that cannot be reached is a 409, not a 500. */
export async function discover(deps: Pick<Deps, "db" | "identity">, source: SourceRow): Promise<client.Configuration> {
  const cfg = source.config as OidcConfig;
  const issuer = new URL(cfg.issuer);
  if (issuer.protocol !== "https:" && deps.identity.production)
    throw new DomainError("identity_source.insecure_transport", "plain-HTTP provider refused in production");
  const secret = await openSourceSecret(deps.db, deps.identity.keyring, source.id);
  const options = issuer.protocol === "http:" ? { execute: [client.allowInsecureRequests], timeout: 10 } : { timeout: 10 };
  try {
    const config = await client.discovery(issuer, cfg.client_id, undefined, client.ClientSecretBasic(secret), options);
    client.enableNonRepudiationChecks(config);
    return config;
  } catch (err) {
    throw new DomainError("identity_source.unreachable", "OIDC discovery failed", { reason: reasonOf(err) }, { cause: err });
  }
}

export async function startOidc(deps: Deps, input: { sourceId: string; returnTo: string; bindingHash: string }): Promise<{ authorization_url: string }> {
  const source = await usableSource(deps, input.sourceId, "oidc");
  const cfg = source.config as OidcConfig;
  const config = await discover(deps, source);
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = randomValue();
  const nonce = randomValue();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri,
    scope: cfg.scopes.join(" "),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  await saveAttempt(deps.live, state, { sourceId: source.id, codeVerifier, nonce, returnTo: input.returnTo, bindingHash: input.bindingHash });
  return { authorization_url: url.href };
}

/**
 * The provider's redirect back. Answers where to send the browser: its page
 * with `#sso=<grant>`, or `#sso_error=<code>` when the answer is refused.
 * An unknown, expired or spent state is refused outright (there is no page
 * to return to).
 */
export async function oidcCallback(deps: Deps, params: URLSearchParams, change: ChangeContext): Promise<{ location: string }> {
  const state = params.get("state");
  const attempt = state ? await takeAttempt(deps.live, state) : null;
  if (!state || !attempt) throw new DomainError("auth.sso_state_invalid", "unknown or spent sign-in state");
  const back = (fragment: string) => ({ location: `${attempt.returnTo}#${fragment}` });
  const source = await getSource(deps.db, attempt.sourceId);
  if (!source?.enabled || source.kind !== "oidc") return back("sso_error=identity_source.disabled");
  const cfg = source.config as OidcConfig;
  const failed = async (code: ErrorCode, reason: string) => {
    await auditSourceLogin(deps.db, change, source, code === "auth.sso_failed" ? "failure" : "denied", reason);
    return back(`sso_error=${code}`);
  };
  if (params.get("error")) return failed("auth.sso_failed", `provider_error:${params.get("error")!.slice(0, 60)}`);

  let person: ExternalPerson;
  let providerMfa: boolean;
  try {
    const config = await discover(deps, source);
    const current = new URL(cfg.redirect_uri);
    current.search = params.toString();
    const tokens = await client.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: attempt.codeVerifier,
      expectedState: state,
      expectedNonce: attempt.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) return failed("auth.sso_failed", "no_id_token");
    if (typeof claims.at_hash === "string") {
      const { alg } = decodeProtectedHeader(tokens.id_token);
      if (!alg || !(await atHashMatches(alg, tokens.access_token, claims.at_hash))) return failed("auth.sso_failed", "at_hash_mismatch");
    }
    const email = typeof claims.email === "string" ? claims.email.toLowerCase() : "";
    if (!email || email.length > 254) return failed("auth.sso_email_unverified", "no_email");
    if (cfg.require_email_verified && claims.email_verified !== true) return failed("auth.sso_email_unverified", "email_not_verified");
    const name = typeof claims.name === "string" && claims.name.trim() ? claims.name.trim().slice(0, 200) : email;
    person = { subject: claims.sub, email, displayName: name, groups: groupsFromClaim(claims[cfg.groups_claim]) };
    providerMfa = cfg.mfa_policy === "idp" && providerProvedMfa({ amr: claims.amr, acr: claims.acr }, cfg.mfa_acr_values);
  } catch (err) {
    if (err instanceof DomainError && err.code === "identity_source.unreachable") return failed("auth.sso_failed", "provider_unreachable");
    // What the library refused (issuer, audience, nonce, signature, expired or replayed code): its code, never a token.
    return failed("auth.sso_failed", reasonOf(err));
  }
  const admission = await deps.host.batch((tx, step) => admitInTx(deps, tx, step, source, person, change));
  if (!admission.admitted) return failed(admission.refusal, admission.reason);
  const grant = await saveGrant(deps.live, { userId: admission.userId, sourceId: source.id, bindingHash: attempt.bindingHash, providerMfa });
  return back(`sso=${grant}`);
}

/** A short, credential-free reason from a library error: its code (and the provider's `error`), truncated. */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return "error";
  const e = err as { code?: unknown; error?: unknown; cause?: { code?: unknown; error?: unknown } };
  const parts = [e.code, e.error, e.cause?.code, e.cause?.error].filter((p): p is string => typeof p === "string");
  return (parts.join(":") || err.name).slice(0, 120);
}
