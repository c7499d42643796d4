/**
 * Authorization: one pure function. Given who is asking (effective platform
 * roles, organization memberships, step-up state), what they want to do and
 * where, it answers allow or deny with a reason. Deny by default: an action
 * no role lists is refused, and organization actions need a membership in
 * that organization (or a platform role that spans organizations).
 *
 * High-risk actions additionally need a recent MFA proof (step-up); an
 * unknown device must have proved it more recently than a trusted one.
 */
export const PLATFORM_ROLES = ["platform_owner", "platform_admin", "platform_recovery_admin"] as const;
export type PlatformRole = (typeof PLATFORM_ROLES)[number];

export const ORG_ROLES = ["org_owner", "org_admin", "org_operator", "org_member", "org_viewer"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

export const PLATFORM_ACTIONS = [
  "platform.read",
  "cluster.read",
  "cluster.manage",
  "organization.create",
  "organization.list_all",
  "user.recover",
  "audit.read_platform",
  "platform_role.grant",
  "secret.rotate_keys",
  "node.approve",
  "join_token.create",
  "role_assignment.manage",
  "trust.change",
  "partition.promote",
  "update_policy.change",
  // The platform's own identity source for platform staff.
  "platform_identity_source.manage",
] as const;
export type PlatformAction = (typeof PLATFORM_ACTIONS)[number];

export const ORG_ACTIONS = [
  "organization.read",
  "organization.update",
  "member.read",
  "member.manage",
  "member.manage_owner",
  "resource.read",
  "resource.create",
  "resource.update",
  "resource.delete",
  "resource.secret_write",
  "audit.read_org",
  // Remote sessions: start one and act on one's own; read any in the organization; terminate or take over any.
  "session.connect",
  "session.read_any",
  "session.manage_any",
  // Identity sources (OIDC, LDAP), their group mappings and the require-SSO policy.
  "identity_source.read",
  "identity_source.manage",
  // VPN connections (docs/vpn.md): their status, and creating, changing, disabling and deleting them.
  "vpn.read",
  "vpn.manage",
] as const;
export type OrgAction = (typeof ORG_ACTIONS)[number];
export type Action = PlatformAction | OrgAction;

/** Actions that need a fresh MFA proof on top of the role. */
export const HIGH_RISK: ReadonlySet<Action> = new Set<Action>([
  "platform_role.grant",
  "secret.rotate_keys",
  "node.approve",
  "join_token.create",
  "role_assignment.manage",
  "trust.change",
  "partition.promote",
  "update_policy.change",
  "resource.secret_write",
  // Taking over or ending someone else's live remote session.
  "session.manage_any",
  // Who may sign in, and with which role: as sensitive as managing members' secrets.
  "identity_source.manage",
  "platform_identity_source.manage",
  // A VPN connection is a network exit with WireGuard keys: as sensitive as a resource's secret.
  "vpn.manage",
]);

/** How long an MFA proof counts for step-up. */
export const STEP_UP_WINDOW_MS = { trustedDevice: 15 * 60_000, unknownDevice: 5 * 60_000 } as const;

const ORG_READS: OrgAction[] = ["organization.read", "member.read", "resource.read", "audit.read_org", "session.read_any", "vpn.read"];

const PLATFORM_GRANTS: Record<PlatformRole, { platform: readonly PlatformAction[]; anyOrg: readonly OrgAction[] }> = {
  platform_owner: { platform: PLATFORM_ACTIONS, anyOrg: ORG_ACTIONS },
  platform_admin: {
    // The owner keeps the trust root: role grants, key rotation, partitions and update policy.
    platform: PLATFORM_ACTIONS.filter(
      (a) => !["platform_role.grant", "secret.rotate_keys", "partition.promote", "update_policy.change", "platform_identity_source.manage"].includes(a),
    ),
    anyOrg: ORG_ACTIONS.filter((a) => a !== "member.manage_owner"),
  },
  platform_recovery_admin: {
    // The delegated recovery role of the spec: may promote or merge a partition, never grant trust.
    platform: ["platform.read", "cluster.read", "organization.list_all", "user.recover", "audit.read_platform", "partition.promote"],
    anyOrg: ORG_READS,
  },
};

const ORG_GRANTS: Record<OrgRole, readonly OrgAction[]> = {
  org_owner: ORG_ACTIONS,
  org_admin: ORG_ACTIONS.filter((a) => a !== "member.manage_owner" && a !== "organization.update"),
  // Operators and members use resources (their own sessions); only owners and admins see or stop others' sessions.
  org_operator: ["organization.read", "member.read", "resource.read", "session.connect", "vpn.read"],
  org_member: ["organization.read", "resource.read", "session.connect"],
  org_viewer: ["organization.read", "member.read", "resource.read", "vpn.read"],
};

export interface Subject {
  userId: string;
  /** Only roles backed by what the installation authority accepts (signed grants in strict mode). */
  platformRoles: readonly PlatformRole[];
  memberships: ReadonlyMap<string, OrgRole>;
  mfaEnrolled: boolean;
  /** When this session last proved MFA; null if never. */
  mfaAt: Date | null;
  deviceTrusted: boolean;
}

export type Scope = { kind: "platform" } | { kind: "organization"; orgId: string };

export type DenyReason = "no_permission" | "not_member" | "mfa_enrollment_required" | "step_up_required";
export type Decision = { allow: true; via: string } | { allow: false; reason: DenyReason };

const isOrgAction = (a: Action): a is OrgAction => (ORG_ACTIONS as readonly string[]).includes(a);

export function authorize(subject: Subject, action: Action, scope: Scope, now: Date): Decision {
  const via = grantingRole(subject, action, scope);
  if (typeof via !== "string") return via;
  if (!HIGH_RISK.has(action)) return { allow: true, via };
  if (!subject.mfaEnrolled) return { allow: false, reason: "mfa_enrollment_required" };
  const window = subject.deviceTrusted ? STEP_UP_WINDOW_MS.trustedDevice : STEP_UP_WINDOW_MS.unknownDevice;
  const fresh = subject.mfaAt !== null && now.getTime() - subject.mfaAt.getTime() <= window && subject.mfaAt.getTime() <= now.getTime();
  return fresh ? { allow: true, via } : { allow: false, reason: "step_up_required" };
}

/** The role that permits the action in the scope, or why none does. */
function grantingRole(subject: Subject, action: Action, scope: Scope): string | Decision {
  for (const role of subject.platformRoles) {
    const g = PLATFORM_GRANTS[role];
    if (!g) continue;
    if (scope.kind === "platform" && (g.platform as readonly string[]).includes(action)) return role;
    if (scope.kind === "organization" && isOrgAction(action) && g.anyOrg.includes(action)) return role;
  }
  if (scope.kind === "platform" || !isOrgAction(action)) return { allow: false, reason: "no_permission" };
  const role = subject.memberships.get(scope.orgId);
  if (!role) return { allow: false, reason: "not_member" };
  return ORG_GRANTS[role]?.includes(action) ? role : { allow: false, reason: "no_permission" };
}

/** Organizations whose data the subject may read at all (null: every organization). */
export function readableOrgs(subject: Subject): string[] | null {
  if (subject.platformRoles.some((r) => PLATFORM_GRANTS[r]?.anyOrg.includes("organization.read"))) return null;
  return [...subject.memberships.keys()];
}
