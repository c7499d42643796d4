/**
 * The whole authorization matrix, written out by hand: every role × every
 * action × {platform, own organization, another organization}. The expected
 * table is spelled literally so a change to the policy shows up here as a
 * diff a reviewer reads.
 */
import { describe, expect, test } from "../fixtures/test.ts";
import {
  authorize,
  HIGH_RISK,
  ORG_ACTIONS,
  ORG_ROLES,
  PLATFORM_ACTIONS,
  PLATFORM_ROLES,
  readableOrgs,
  STEP_UP_WINDOW_MS,
  type Action,
  type OrgRole,
  type PlatformRole,
  type Subject,
} from "./authz.ts";

const OWN = "org-a";
const OTHER = "org-b";
const now = new Date("2026-06-01T12:00:00Z");

// P = allowed in platform scope, O = in own org, X = in another org.
const EXPECTED: Record<PlatformRole | OrgRole, Record<string, string>> = {
  platform_owner: {
    "platform.read": "P",
    "cluster.read": "P",
    "cluster.manage": "P",
    "organization.create": "P",
    "organization.list_all": "P",
    "user.recover": "P",
    "audit.read_platform": "P",
    "platform_role.grant": "P",
    "secret.rotate_keys": "P",
    "node.approve": "P",
    "join_token.create": "P",
    "role_assignment.manage": "P",
    "trust.change": "P",
    "partition.promote": "P",
    "update_policy.change": "P",
    "platform_identity_source.manage": "P",
    "organization.read": "OX",
    "organization.update": "OX",
    "member.read": "OX",
    "member.manage": "OX",
    "member.manage_owner": "OX",
    "resource.read": "OX",
    "resource.create": "OX",
    "resource.update": "OX",
    "resource.delete": "OX",
    "resource.secret_write": "OX",
    "audit.read_org": "OX",
    "session.connect": "OX",
    "session.read_any": "OX",
    "session.manage_any": "OX",
    "identity_source.read": "OX",
    "identity_source.manage": "OX",
    "vpn.read": "OX",
    "vpn.manage": "OX",
  },
  platform_admin: {
    "platform.read": "P",
    "cluster.read": "P",
    "cluster.manage": "P",
    "organization.create": "P",
    "organization.list_all": "P",
    "user.recover": "P",
    "audit.read_platform": "P",
    "node.approve": "P",
    "join_token.create": "P",
    "role_assignment.manage": "P",
    "trust.change": "P",
    "organization.read": "OX",
    "organization.update": "OX",
    "member.read": "OX",
    "member.manage": "OX",
    "resource.read": "OX",
    "resource.create": "OX",
    "resource.update": "OX",
    "resource.delete": "OX",
    "resource.secret_write": "OX",
    "audit.read_org": "OX",
    "session.connect": "OX",
    "session.read_any": "OX",
    "session.manage_any": "OX",
    "identity_source.read": "OX",
    "identity_source.manage": "OX",
    "vpn.read": "OX",
    "vpn.manage": "OX",
  },
  platform_recovery_admin: {
    "platform.read": "P",
    "cluster.read": "P",
    "organization.list_all": "P",
    "user.recover": "P",
    "audit.read_platform": "P",
    "partition.promote": "P",
    "organization.read": "OX",
    "member.read": "OX",
    "resource.read": "OX",
    "audit.read_org": "OX",
    "session.read_any": "OX",
    "vpn.read": "OX",
  },
  org_owner: {
    "organization.read": "O",
    "organization.update": "O",
    "member.read": "O",
    "member.manage": "O",
    "member.manage_owner": "O",
    "resource.read": "O",
    "resource.create": "O",
    "resource.update": "O",
    "resource.delete": "O",
    "resource.secret_write": "O",
    "audit.read_org": "O",
    "session.connect": "O",
    "session.read_any": "O",
    "session.manage_any": "O",
    "identity_source.read": "O",
    "identity_source.manage": "O",
    "vpn.read": "O",
    "vpn.manage": "O",
  },
  org_admin: {
    "organization.read": "O",
    "member.read": "O",
    "member.manage": "O",
    "resource.read": "O",
    "resource.create": "O",
    "resource.update": "O",
    "resource.delete": "O",
    "resource.secret_write": "O",
    "audit.read_org": "O",
    "session.connect": "O",
    "session.read_any": "O",
    "session.manage_any": "O",
    "identity_source.read": "O",
    "identity_source.manage": "O",
    "vpn.read": "O",
    "vpn.manage": "O",
  },
  org_operator: { "organization.read": "O", "member.read": "O", "resource.read": "O", "session.connect": "O", "vpn.read": "O" },
  org_member: { "organization.read": "O", "resource.read": "O", "session.connect": "O" },
  org_viewer: { "organization.read": "O", "member.read": "O", "resource.read": "O", "vpn.read": "O" },
};

function subject(role: PlatformRole | OrgRole, extra: Partial<Subject> = {}): Subject {
  const isPlatform = (PLATFORM_ROLES as readonly string[]).includes(role);
  return {
    userId: "u",
    platformRoles: isPlatform ? [role as PlatformRole] : [],
    memberships: new Map(isPlatform ? [] : [[OWN, role as OrgRole]]),
    mfaEnrolled: true,
    mfaAt: new Date(now.getTime() - 1000),
    deviceTrusted: true,
    ...extra,
  };
}

const ALL_ACTIONS: Action[] = [...PLATFORM_ACTIONS, ...ORG_ACTIONS];

describe("authorization matrix", () => {
  for (const role of [...PLATFORM_ROLES, ...ORG_ROLES]) {
    test(role, () => {
      const s = subject(role);
      const rows = ALL_ACTIONS.map((action) => {
        const platformScope = (PLATFORM_ACTIONS as readonly string[]).includes(action);
        const got = platformScope
          ? authorize(s, action, { kind: "platform" }, now).allow
            ? "P"
            : ""
          : (authorize(s, action, { kind: "organization", orgId: OWN }, now).allow ? "O" : "") +
            (authorize(s, action, { kind: "organization", orgId: OTHER }, now).allow ? "X" : "");
        return [action, got];
      });
      const expected = ALL_ACTIONS.map((a) => [a, EXPECTED[role][a] ?? ""]);
      expect(rows).toEqual(expected);
    });
  }

  test("org actions never succeed in platform scope, platform actions never in an org", () => {
    for (const role of [...PLATFORM_ROLES, ...ORG_ROLES]) {
      const s = subject(role);
      for (const a of ORG_ACTIONS) expect(authorize(s, a, { kind: "platform" }, now).allow).toBe(false);
      for (const a of PLATFORM_ACTIONS) expect(authorize(s, a, { kind: "organization", orgId: OWN }, now).allow).toBe(false);
    }
  });

  test("no roles at all means deny, with the reason", () => {
    const nobody = subject("org_member", { memberships: new Map() });
    expect(authorize(nobody, "resource.read", { kind: "organization", orgId: OWN }, now)).toEqual({ allow: false, reason: "not_member" });
    expect(authorize(nobody, "cluster.read", { kind: "platform" }, now)).toEqual({ allow: false, reason: "no_permission" });
  });
});

describe("step-up", () => {
  const owner = (extra: Partial<Subject>) => subject("platform_owner", extra);
  const approve = (s: Subject) => authorize(s, "node.approve", { kind: "platform" }, now);

  test("every high-risk action needs MFA enrolled", () => {
    for (const a of HIGH_RISK) {
      const scope = (PLATFORM_ACTIONS as readonly string[]).includes(a) ? ({ kind: "platform" } as const) : ({ kind: "organization", orgId: OWN } as const);
      expect(authorize(owner({ mfaEnrolled: false }), a, scope, now)).toEqual({ allow: false, reason: "mfa_enrollment_required" });
    }
  });

  test("a proof older than the window is not enough; unknown devices get the shorter window", () => {
    const at = (msAgo: number) => new Date(now.getTime() - msAgo);
    expect(approve(owner({ mfaAt: null })).allow).toBe(false);
    expect(approve(owner({ mfaAt: at(STEP_UP_WINDOW_MS.trustedDevice - 1000), deviceTrusted: true })).allow).toBe(true);
    expect(approve(owner({ mfaAt: at(STEP_UP_WINDOW_MS.trustedDevice + 1000), deviceTrusted: true }))).toEqual({ allow: false, reason: "step_up_required" });
    expect(approve(owner({ mfaAt: at(STEP_UP_WINDOW_MS.unknownDevice + 1000), deviceTrusted: false }))).toEqual({ allow: false, reason: "step_up_required" });
    expect(approve(owner({ mfaAt: at(STEP_UP_WINDOW_MS.unknownDevice - 1000), deviceTrusted: false })).allow).toBe(true);
  });

  test("a proof dated in the future does not count", () => {
    expect(approve(owner({ mfaAt: new Date(now.getTime() + 60_000) })).allow).toBe(false);
  });

  test("the high-risk actions, spelled out", () => {
    expect<string[]>([...HIGH_RISK].sort()).toEqual(
      [
        "platform_role.grant",
        "secret.rotate_keys",
        "node.approve",
        "join_token.create",
        "role_assignment.manage",
        "trust.change",
        "partition.promote",
        "update_policy.change",
        "resource.secret_write",
        "session.manage_any",
        "identity_source.manage",
        "platform_identity_source.manage",
        "vpn.manage",
      ].sort(),
    );
  });

  test("another user's session needs a step-up; one's own does not", () => {
    const stale = subject("org_admin", { mfaAt: new Date(now.getTime() - STEP_UP_WINDOW_MS.trustedDevice - 1000) });
    const scope = { kind: "organization", orgId: OWN } as const;
    expect(authorize(stale, "session.manage_any", scope, now)).toEqual({ allow: false, reason: "step_up_required" });
    expect(authorize(stale, "session.connect", scope, now).allow).toBe(true);
    expect(authorize(subject("org_admin"), "session.manage_any", scope, now).allow).toBe(true);
  });

  test("ordinary actions need no step-up", () => {
    expect(authorize(owner({ mfaEnrolled: false, mfaAt: null }), "cluster.manage", { kind: "platform" }, now).allow).toBe(true);
  });
});

test("readable organizations: all for platform roles that read orgs, memberships otherwise", () => {
  expect(readableOrgs(subject("platform_recovery_admin"))).toBeNull();
  expect(readableOrgs(subject("org_viewer"))).toEqual([OWN]);
});
