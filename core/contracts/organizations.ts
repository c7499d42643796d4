/** Wire contract of organizations, memberships, resources and audit queries. */
import * as v from "valibot";
import { ORG_ROLES } from "../authz.ts";
import { DisplayName, Email, Password } from "./auth.ts";
import { Slug } from "./clusters.ts";
import { COLOR_MODES, QUALITY_PROFILES, TRANSFER_MODES } from "./data-plane-token.ts";
import { JsonObject, Limit, PageQuery, ExactText, Text, Timestamp, Uuid } from "./common.ts";

export const NewOrganizationBody = v.strictObject({ name: DisplayName, slug: Slug });
export const UpdateOrganizationBody = v.strictObject({ name: DisplayName });
export const OrgIdParam = v.strictObject({ orgId: Uuid("an organization id") });
export const MemberParam = v.strictObject({ orgId: Uuid("an organization id"), userId: Uuid("a user id") });
export { PageQuery };

export const NewMemberBody = v.strictObject({
  email: Email,
  display_name: DisplayName,
  password: Password,
  role: v.picklist(ORG_ROLES),
});
export const UpdateMemberBody = v.pipe(
  v.strictObject({ role: v.optional(v.picklist(ORG_ROLES)), status: v.optional(v.picklist(["active", "suspended"])) }),
  v.check((b) => b.role !== undefined || b.status !== undefined, "name role or status"),
);

const TransferMode = v.picklist(TRANSFER_MODES);
const Host = v.pipe(Text(253, { min: 1 }), v.regex(/^[A-Za-z0-9.:[\]_-]+$/, "must be a host name or address"));
const Metadata = JsonObject({ maxBytes: 8192 });
const SHA256_BASE64 = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const SHA256_HEX = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/;
/**
 * A pinned server identity: an SSH host key's SHA-256 fingerprint as
 * `ssh-keygen -l` prints it (the `=` padding optional), or for RDP the
 * SHA-256 of the server certificate, also as hex (`openssl x509 -noout
 * -fingerprint -sha256` prints it with colons).
 */
const HostKeyFingerprint = v.pipe(
  v.string(),
  v.check((f) => SHA256_BASE64.test(f) || SHA256_HEX.test(f), "must be SHA256:<base64> (ssh-keygen -l) or 64 hex digits (openssl x509 -fingerprint -sha256)"),
);

/** One spelling of a fingerprint (`SHA256:` + unpadded base64), so a pin compares equal whichever way it was pasted. */
export const normalizeHostKey = (f: string | null): string | null => {
  if (f === null) return null;
  if (!SHA256_HEX.test(f)) return f.replace(/=$/, "");
  return `SHA256:${Buffer.from(f.replaceAll(":", ""), "hex").toString("base64").replace(/=$/, "")}`;
};

const ResourceFields = {
  name: Text(200, { min: 1 }),
  protocol: v.picklist(["rdp", "vnc", "ssh"]),
  target_host: Host,
  target_port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  egress_pool: v.optional(v.nullable(Text(100, { min: 1 }))),
  certificate_verification_mode: v.optional(v.picklist(["strict", "ignore"])),
  /** The pinned SSH host key strict verification accepts; without it a strict SSH session fails to start. */
  host_key_fingerprint: v.optional(v.nullable(HostKeyFingerprint)),
  clipboard_mode: v.optional(TransferMode),
  file_transfer_mode: v.optional(TransferMode),
  /** Remote desktops: the quality profile a session starts with (default `balanced`). */
  quality_profile: v.optional(v.picklist(QUALITY_PROFILES)),
  /** Remote desktops: a colour mode overriding the profile's, or null for the profile's own. */
  color_mode: v.optional(v.nullable(v.picklist(COLOR_MODES))),
  /** Remote desktops: whether the user may change profile and colour mode while connected (default true). */
  quality_adjustable: v.optional(v.boolean()),
  /** The resource's `detached_timeout`: how long a detached remote session is kept (60 s – 24 h, default 900). */
  detached_timeout_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(86_400))),
  /** SSH/RDP: a VPN connection of the same organization whose current owner dials the target (docs/vpn.md); null: dialled directly. */
  vpn_connection_id: v.optional(v.nullable(Uuid("a VPN connection id"))),
  metadata: v.optional(Metadata),
};

export const SecretBody = v.pipe(
  v.strictObject({
    username: v.optional(ExactText(256)),
    password: v.optional(ExactText(1024)),
    domain: v.optional(ExactText(256)),
    private_key: v.optional(ExactText(16384)),
  }),
  v.check((s) => Object.values(s).some((x) => x !== undefined), "give at least one credential field"),
);

export const NewResourceBody = v.strictObject({ organization_id: Uuid("an organization id"), ...ResourceFields, secret: v.optional(SecretBody) });
export const UpdateResourceBody = v.pipe(
  v.strictObject({
    name: v.optional(ResourceFields.name),
    protocol: v.optional(ResourceFields.protocol),
    target_host: v.optional(Host),
    target_port: v.optional(ResourceFields.target_port),
    egress_pool: ResourceFields.egress_pool,
    certificate_verification_mode: ResourceFields.certificate_verification_mode,
    host_key_fingerprint: ResourceFields.host_key_fingerprint,
    clipboard_mode: ResourceFields.clipboard_mode,
    file_transfer_mode: ResourceFields.file_transfer_mode,
    quality_profile: ResourceFields.quality_profile,
    color_mode: ResourceFields.color_mode,
    quality_adjustable: ResourceFields.quality_adjustable,
    detached_timeout_seconds: ResourceFields.detached_timeout_seconds,
    vpn_connection_id: ResourceFields.vpn_connection_id,
    metadata: ResourceFields.metadata,
  }),
  v.check((b) => Object.keys(b).length > 0, "name at least one field to change"),
);
export const ResourceIdParam = v.strictObject({ id: Uuid("a resource id") });
export const ListResourcesQuery = v.strictObject({
  limit: Limit,
  after: v.optional(Uuid("a cursor")),
  organization_id: v.optional(Uuid("an organization id")),
});

export const AuditQuery = v.strictObject({
  limit: Limit,
  before: v.optional(Uuid("a cursor")),
  organization_id: v.optional(Uuid("an organization id")),
  action: v.optional(Text(100)),
  actor_id: v.optional(Text(100)),
  target_id: v.optional(Text(100)),
  outcome: v.optional(v.picklist(["success", "denied", "failure"])),
  since: v.optional(Timestamp),
  until: v.optional(Timestamp),
});
export const OrgAuditQuery = v.strictObject({ ...v.omit(AuditQuery, ["organization_id"]).entries });
