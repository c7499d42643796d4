/**
 * Wire contract of identity sources (local, OIDC, LDAP), their group → role
 * mappings, the require-SSO policy and the public single sign-on endpoints.
 * Secrets (client secret, bind password) are write-only fields: no answer
 * carries them. Roles are organization roles only: nothing here can name a
 * platform role.
 */
import * as v from "valibot";
import { ORG_ROLES } from "../authz.ts";
import { DeviceId, TotpCode } from "./auth.ts";
import { ExactText, Text, Uuid } from "./common.ts";

const HttpUrl = v.pipe(Text(2048, { min: 1 }), v.url("must be a URL"), v.regex(/^https?:\/\//, "must be an http(s) URL"));
const LdapUrl = v.pipe(Text(2048, { min: 1 }), v.regex(/^ldaps?:\/\/[A-Za-z0-9.:[\]_-]+(:\d{1,5})?\/?$/, "must be ldap://host:port or ldaps://host:port"));
const Dn = Text(1024, { min: 1 });
const Attribute = v.pipe(Text(64, { min: 1 }), v.regex(/^[A-Za-z][A-Za-z0-9-]*$/, "must be an attribute name"));
const Filter = v.pipe(Text(1024, { min: 3 }), v.regex(/^\(.*\)$/, "must be an LDAP filter in parentheses"));
const Pem = v.pipe(ExactText(65_536), v.regex(/-----BEGIN CERTIFICATE-----/, "must be PEM certificates"));
const DefaultRole = v.optional(v.nullable(v.picklist(ORG_ROLES)), null);
export const SourceName = Text(100, { min: 1 });

/**
 * `mfa_policy`: `idp` counts the provider's `amr` (`mfa`) or one of
 * `mfa_acr_values` as the second factor; `totp` always asks for our TOTP
 * when the user has one.
 */
export const OidcConfig = v.strictObject({
  issuer: HttpUrl,
  client_id: Text(256, { min: 1 }),
  redirect_uri: HttpUrl,
  scopes: v.optional(v.pipe(v.array(v.pipe(Text(64, { min: 1 }), v.regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be a scope token"))), v.maxLength(20)), [
    "openid",
    "email",
    "profile",
  ]),
  groups_claim: v.optional(v.pipe(Text(64, { min: 1 }), v.regex(/^[A-Za-z0-9_:./-]+$/, "must be a claim name")), "groups"),
  require_email_verified: v.optional(v.boolean(), true),
  mfa_policy: v.optional(v.picklist(["idp", "totp"]), "totp"),
  mfa_acr_values: v.optional(v.pipe(v.array(Text(256, { min: 1 })), v.maxLength(20)), []),
  default_role: DefaultRole,
});
export type OidcConfig = v.InferOutput<typeof OidcConfig>;

/** `security`: `ldaps` or `starttls`; `none` (plain LDAP) only outside production. */
export const LdapConfig = v.strictObject({
  url: LdapUrl,
  security: v.optional(v.picklist(["ldaps", "starttls", "none"]), "starttls"),
  tls_ca_pem: v.optional(v.nullable(Pem), null),
  bind_dn: Dn,
  user_base_dn: Dn,
  user_filter: v.optional(Filter, "(objectClass=inetOrgPerson)"),
  login_attribute: v.optional(Attribute, "uid"),
  email_attribute: v.optional(Attribute, "mail"),
  name_attribute: v.optional(Attribute, "cn"),
  id_attribute: v.optional(Attribute, "entryUUID"),
  group_base_dn: Dn,
  group_filter: v.optional(Filter, "(objectClass=groupOfNames)"),
  group_member_attribute: v.optional(Attribute, "member"),
  sync_interval_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(86_400)), 900),
  default_role: DefaultRole,
});
export type LdapConfig = v.InferOutput<typeof LdapConfig>;

const Secret = ExactText(4096);
const Common = { name: SourceName, enabled: v.optional(v.boolean(), true) };

export const NewSourceBody = v.variant("kind", [
  v.strictObject({ kind: v.literal("local"), ...Common }),
  v.strictObject({ kind: v.literal("oidc"), ...Common, config: OidcConfig, client_secret: Secret }),
  v.strictObject({ kind: v.literal("ldap"), ...Common, config: LdapConfig, bind_password: Secret }),
]);
export type NewSourceBody = v.InferOutput<typeof NewSourceBody>;

/** A change replaces `config` whole (when given); a secret left out stays as it is. */
export const UpdateSourceBody = v.pipe(
  v.strictObject({
    name: v.optional(SourceName),
    enabled: v.optional(v.boolean()),
    config: v.optional(v.record(v.string(), v.unknown())),
    client_secret: v.optional(Secret),
    bind_password: v.optional(Secret),
  }),
  v.check((b) => Object.keys(b).length > 0, "name at least one field to change"),
);

export const MappingsBody = v.strictObject({
  mappings: v.pipe(v.array(v.strictObject({ group: Text(1024, { min: 1 }), role: v.picklist(ORG_ROLES) })), v.maxLength(200)),
});
export const SsoPolicyBody = v.strictObject({ require_sso: v.boolean() });
export const SourceParam = v.strictObject({ orgId: Uuid("an organization id"), sourceId: Uuid("an identity source id") });
export const PlatformSourceParam = v.strictObject({ sourceId: Uuid("an identity source id") });

// Public sign-in endpoints.
const ReturnTo = v.pipe(Text(200, { min: 1 }), v.regex(/^\/(console|org|access)\/[A-Za-z0-9/_-]*$/, "must be a path under /console/, /org/ or /access/"));
/** The browser's proof that it started the sign-in: SHA-256 of a random value it keeps, hex. */
const BindingHash = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 hex digits"));
const Binding = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{32,128}$/, "must be 32-128 letters, digits, _ or -"));

export const SsoSourcesQuery = v.strictObject({ organization: v.optional(v.pipe(Text(63, { min: 1 }), v.regex(/^[a-z0-9-]+$/, "must be a slug"))) });
export const OidcStartBody = v.strictObject({ source_id: Uuid("an identity source id"), return_to: ReturnTo, binding_hash: BindingHash });
export const OidcCallbackQuery = v.looseObject({
  state: v.optional(Text(200)),
  code: v.optional(Text(4096)),
  error: v.optional(Text(200)),
});
export const RedeemBody = v.strictObject({
  grant: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{20,200}$/, "must be a sign-in grant")),
  binding: Binding,
  device_id: v.optional(DeviceId),
  totp_code: v.optional(TotpCode),
});
export const LdapLoginBody = v.strictObject({
  source_id: Uuid("an identity source id"),
  username: Text(256, { min: 1 }),
  password: v.pipe(ExactText(256), v.minLength(1)),
  device_id: v.optional(DeviceId),
  totp_code: v.optional(TotpCode),
});
