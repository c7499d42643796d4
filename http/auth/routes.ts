/**
 * /api/v1/auth: login, refresh, logout, sessions, TOTP, step-up, trusted
 * devices. Login and refresh are public (rate-limited); the rest need an
 * access token.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { valid } from "../validate.ts";
import { changeOf, anonymousChange } from "../change.ts";
import { CodeBody, IdParam, LoginBody, RefreshBody, TrustDeviceBody } from "../../core/contracts/auth.ts";
import {
  confirmTotpEnrollment,
  login,
  logout,
  refresh,
  revokeOwnSession,
  startTotpEnrollment,
  stepUp,
  trustCurrentDevice,
} from "../../control/auth/service.ts";
import { ownDevices, ownSessions, revokeOwnDevice } from "../../control/auth/devices.ts";
import { STEP_UP_WINDOW_MS } from "../../core/authz.ts";
import { DomainError } from "../../core/errors.ts";
import { recordAudit } from "../../control/audit/service.ts";
import { clientIp } from "../client-ip.ts";
import { describeRoutes } from "../openapi/registry.ts";

const authed = new Hono<AppEnv>()
  .use(authenticate())
  .post("/logout", async (c) => {
    await logout(c.get("deps"), c.get("auth").session, changeOf(c));
    return c.body(null, 204);
  })
  .get("/sessions", async (c) => {
    const { user, session } = c.get("auth");
    const rows = await ownSessions(c.get("deps"), user.id);
    return c.json({
      items: rows.map((s) => ({
        id: s.id,
        created_at: s.createdAt.toISOString(),
        last_seen_at: s.lastSeenAt.toISOString(),
        expires_at: s.expiresAt.toISOString(),
        user_agent: s.userAgent,
        current: s.id === session.id,
      })),
    });
  })
  .delete("/sessions/:id", valid("param", IdParam), async (c) => {
    await revokeOwnSession(c.get("deps"), c.get("auth").user.id, c.req.valid("param").id, changeOf(c));
    return c.body(null, 204);
  })
  .post("/mfa/totp", async (c) => c.json(await startTotpEnrollment(c.get("deps"), c.get("auth").user, changeOf(c)), 201))
  .post("/mfa/totp/confirm", valid("json", CodeBody), async (c) => {
    const { user, session } = c.get("auth");
    await confirmTotpEnrollment(c.get("deps"), user, session, c.req.valid("json").code, changeOf(c));
    return c.json({ mfa_enabled: true });
  })
  .post("/step-up", valid("json", CodeBody), async (c) => {
    const { user, session } = c.get("auth");
    return c.json(await stepUp(c.get("deps"), user, session, c.req.valid("json").code, changeOf(c)));
  })
  .get("/devices", async (c) => {
    const rows = await ownDevices(c.get("deps"), c.get("auth").user.id);
    return c.json({ items: rows.map((d) => ({ id: d.id, name: d.name, trusted_at: d.trustedAt.toISOString() })) });
  })
  .post("/devices", valid("json", TrustDeviceBody), async (c) => {
    const { user, session } = c.get("auth");
    const now = c.get("deps").clock().getTime();
    // Trusting a device lowers future friction, so it needs the strictest proof: a fresh second factor.
    if (!session.mfaAt || now - session.mfaAt.getTime() > STEP_UP_WINDOW_MS.unknownDevice) {
      await recordAudit(c.get("deps"), {
        change: changeOf(c),
        action: "auth.device_trust",
        targetType: "auth_session",
        targetId: session.id,
        outcome: "denied",
        reason: "step_up_required",
      });
      throw new DomainError(user.totpEnabledAt ? "auth.step_up_required" : "auth.mfa_enrollment_required", "fresh MFA needed to trust a device");
    }
    const id = await trustCurrentDevice(c.get("deps"), user, session, c.req.valid("json").name, changeOf(c));
    return c.json({ id }, 201);
  })
  .delete("/devices/:id", valid("param", IdParam), async (c) => {
    await revokeOwnDevice(c.get("deps"), c.get("auth").user.id, c.req.valid("param").id, changeOf(c));
    return c.body(null, 204);
  });

export const authRoutes = new Hono<AppEnv>()
  .post("/login", valid("json", LoginBody), async (c) => {
    const b = c.req.valid("json");
    const result = await login(
      c.get("deps"),
      {
        email: b.email,
        password: b.password,
        deviceId: b.device_id,
        totpCode: b.totp_code,
        ip: clientIp(c),
        userAgent: c.req.header("user-agent")?.slice(0, 300) ?? null,
      },
      anonymousChange(c),
    );
    return c.json(result);
  })
  .post("/refresh", valid("json", RefreshBody), async (c) => c.json(await refresh(c.get("deps"), c.req.valid("json").refresh_token, anonymousChange(c))))
  .route("/", authed);

describeRoutes(authRoutes, {
  "POST /logout": { summary: "End this session", status: 204 },
  "GET /sessions": { summary: "My sessions" },
  "DELETE /sessions/:id": { summary: "End one of my sessions", status: 204, errors: ["auth.session_not_found"] },
  "POST /mfa/totp": { summary: "Start TOTP enrollment (secret and otpauth URI)", status: 201, errors: ["auth.mfa_already_enabled"] },
  "POST /mfa/totp/confirm": {
    summary: "Confirm TOTP enrollment with a code",
    errors: ["auth.mfa_not_pending", "auth.mfa_invalid", "auth.mfa_already_enabled"],
  },
  "POST /step-up": {
    summary: "Prove the second factor for high-risk actions",
    errors: ["auth.mfa_invalid", "auth.mfa_enrollment_required", "auth.rate_limited"],
  },
  "GET /devices": { summary: "My trusted devices" },
  "POST /devices": { summary: "Trust this session's device", status: 201, errors: ["auth.step_up_required", "auth.mfa_enrollment_required"] },
  "DELETE /devices/:id": { summary: "Forget a trusted device", status: 204, errors: ["auth.device_not_found"] },
  "POST /login": {
    summary: "Sign in with email, password and (when enrolled) a TOTP code",
    errors: ["auth.invalid_credentials", "auth.mfa_required", "auth.mfa_invalid", "auth.account_disabled", "auth.rate_limited", "auth.sso_required"],
  },
  "POST /refresh": {
    summary: "Exchange a refresh token for new tokens (single use)",
    errors: ["auth.refresh_token_invalid", "auth.refresh_token_expired", "auth.refresh_token_reused", "auth.session_revoked", "auth.account_disabled"],
  },
});
