/**
 * /api/v1/auth/sso: public single sign-on. The sign-in pages list an
 * organization's sources (or the platform's), start an OIDC sign-in, and
 * redeem the grant the callback put in their URL fragment; LDAP signs in
 * with a login name and password. The callback is the redirect URI
 * registered at the provider.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { valid } from "../validate.ts";
import { anonymousChange } from "../change.ts";
import { clientIp } from "../client-ip.ts";
import { LdapLoginBody, OidcCallbackQuery, OidcStartBody, RedeemBody, SsoSourcesQuery } from "../../core/contracts/identity-sources.ts";
import { signInChoices } from "../../control/identity-sources/queries.ts";
import { oidcCallback, startOidc } from "../../control/identity-sources/oidc.ts";
import { ldapSignIn, redeemGrant } from "../../control/identity-sources/sign-in.ts";
import { describeRoutes } from "../openapi/registry.ts";

const userAgent = (ua: string | undefined) => ua?.slice(0, 300) ?? null;

export const ssoRoutes = new Hono<AppEnv>()
  .get("/sources", valid("query", SsoSourcesQuery), async (c) => c.json({ items: await signInChoices(c.get("deps"), c.req.valid("query").organization) }))
  .post("/oidc/start", valid("json", OidcStartBody), async (c) => {
    const b = c.req.valid("json");
    return c.json(await startOidc(c.get("deps"), { sourceId: b.source_id, returnTo: b.return_to, bindingHash: b.binding_hash }));
  })
  .get("/oidc/callback", valid("query", OidcCallbackQuery), async (c) => {
    const params = new URL(c.req.url).searchParams;
    const { location } = await oidcCallback(c.get("deps"), params, anonymousChange(c));
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    return c.redirect(location, 303);
  })
  .post("/redeem", valid("json", RedeemBody), async (c) => {
    const b = c.req.valid("json");
    return c.json(
      await redeemGrant(
        c.get("deps"),
        { grant: b.grant, binding: b.binding, deviceId: b.device_id, totpCode: b.totp_code, ip: clientIp(c), userAgent: userAgent(c.req.header("user-agent")) },
        anonymousChange(c),
      ),
    );
  })
  .post("/ldap/login", valid("json", LdapLoginBody), async (c) => {
    const b = c.req.valid("json");
    return c.json(
      await ldapSignIn(
        c.get("deps"),
        {
          sourceId: b.source_id,
          username: b.username,
          password: b.password,
          deviceId: b.device_id,
          totpCode: b.totp_code,
          ip: clientIp(c),
          userAgent: userAgent(c.req.header("user-agent")),
        },
        anonymousChange(c),
      ),
    );
  });

describeRoutes(ssoRoutes, {
  "GET /sources": { summary: "Sign-in choices of an organization (by slug) or of the platform" },
  "POST /oidc/start": {
    summary: "Start an OIDC sign-in: the provider URL to send the browser to",
    errors: ["identity_source.not_found", "identity_source.wrong_kind", "identity_source.disabled", "identity_source.unreachable"],
  },
  // Answers 303 to the page that started the sign-in, with the grant (or the refusal's code) in the fragment.
  "GET /oidc/callback": { summary: "The provider's redirect back (303 to the page, grant or error in the fragment)", errors: ["auth.sso_state_invalid"] },
  "POST /redeem": {
    summary: "Exchange the sign-in grant for tokens",
    errors: ["auth.sso_grant_invalid", "auth.mfa_required", "auth.mfa_invalid", "auth.account_disabled", "identity_source.disabled"],
  },
  "POST /ldap/login": {
    summary: "Sign in with a directory login name and password",
    errors: [
      "auth.invalid_credentials",
      "auth.rate_limited",
      "auth.mfa_required",
      "auth.mfa_invalid",
      "auth.account_disabled",
      "auth.sso_not_authorized",
      "auth.sso_account_conflict",
      "identity_source.not_found",
      "identity_source.wrong_kind",
      "identity_source.disabled",
      "identity_source.unreachable",
    ],
  },
});
