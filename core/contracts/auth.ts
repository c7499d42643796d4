/** Wire contract of authentication, installation and platform grant endpoints. */
import * as v from "valibot";
import { ExactText, Text } from "./common.ts";

export const Email = v.pipe(Text(254), v.toLowerCase(), v.email("must be an email address"));
export const Password = v.pipe(ExactText(256), v.minLength(12, "must be at least 12 characters"));
export const DisplayName = Text(200, { min: 1 });
export const DeviceId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,128}$/, "16-128 letters, digits, _ or -"));
export const TotpCode = v.pipe(v.string(), v.regex(/^\d{6}$/, "must be 6 digits"));
const Jws = v.pipe(v.string(), v.maxLength(8192), v.regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "must be a compact JWS"));

export const LoginBody = v.strictObject({
  email: Email,
  // Login does not enforce the length policy: a wrong password is just wrong.
  password: v.pipe(ExactText(256), v.minLength(1)),
  device_id: v.optional(DeviceId),
  totp_code: v.optional(TotpCode),
});

export const RefreshBody = v.strictObject({ refresh_token: Text(200) });
export const CodeBody = v.strictObject({ code: TotpCode });
export const TrustDeviceBody = v.strictObject({ name: Text(100, { min: 1 }) });
export const IdParam = v.strictObject({ id: v.pipe(v.string(), v.uuid("must be an id")) });

export const BootstrapOwnerBody = v.union([
  v.strictObject({ activation: Jws, password: Password, display_name: v.optional(DisplayName) }),
  v.strictObject({ email: Email, password: Password, display_name: DisplayName }),
]);

export const GrantBody = v.strictObject({ grant: Jws });
export const DevPlatformRoleBody = v.strictObject({ role: v.nullable(v.picklist(["platform_owner", "platform_admin", "platform_recovery_admin"])) });
