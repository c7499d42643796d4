/**
 * The Account page of both apps: who is signed in, two-factor setup (the
 * TOTP secret is shown once, then confirmed with a code), this account's
 * sessions, and sign-out.
 */
import { api } from "./api.ts";
import { badge, fact, facts, field, formValues, h, section, table } from "./dom.ts";
import { attempt } from "./errors.ts";
import { when } from "./format.ts";
import type { PageView } from "./router.ts";
import { clearTokens } from "./session.ts";

export interface Me {
  id: string;
  email: string;
  display_name: string;
  platform_roles: string[];
  memberships: { organization_id: string; organization_name?: string; role: string }[];
  mfa_enabled: boolean;
  session: { id: string; mfa_verified?: boolean };
}

export async function accountPage(): Promise<PageView> {
  const me = await api.get<Me>("/me");
  const out = h("div");
  const mfa = h("div", { "data-testid": "mfa" });
  if (me.mfa_enabled)
    mfa.append(h("p", {}, badge("active", "two-factor on"), " Your account asks for an authenticator code on unknown devices and before high-risk actions."));
  else {
    const setup = h("div");
    mfa.append(
      h("p", {}, "Two-factor authentication is off. Platform operators need it for high-risk actions."),
      h(
        "button",
        {
          type: "button",
          class: "primary",
          "data-testid": "mfa-start",
          onclick: () =>
            attempt(out, async () => {
              const r = await api.post<{ secret: string; otpauth_uri: string }>("/auth/mfa/totp");
              const confirm = h(
                "form",
                {
                  "data-testid": "mfa-confirm-form",
                  onsubmit: (e: Event) => {
                    e.preventDefault();
                    void attempt(out, async () => {
                      await api.post("/auth/mfa/totp/confirm", { code: formValues(confirm).code });
                      location.reload();
                    });
                  },
                },
                h("p", {}, "Add this secret to your authenticator app now; it is shown only once."),
                facts(fact("Secret", h("code", { "data-testid": "mfa-secret" }, r.secret)), fact("otpauth URI", h("code", { class: "wrap" }, r.otpauth_uri))),
                field("Code from the app", h("input", { name: "code", inputmode: "numeric", required: true, "data-testid": "mfa-code" })),
                h("button", { type: "submit", class: "primary", "data-testid": "mfa-confirm" }, "Confirm"),
              );
              setup.replaceChildren(confirm);
            }),
        },
        "Set up two-factor",
      ),
      setup,
    );
  }
  const devices = await api.get<{ items: { id: string; name: string; trusted_at: string }[] }>("/auth/devices");
  const trust = h(
    "div",
    { "data-testid": "devices" },
    table(
      [
        { title: "Trusted device", cell: (d) => d.name },
        { title: "Since", cell: (d) => when(d.trusted_at) },
        {
          title: "",
          cell: (d) =>
            h(
              "button",
              {
                type: "button",
                onclick: () =>
                  attempt(out, async () => {
                    await api.del(`/auth/devices/${d.id}`);
                    location.reload();
                  }),
              },
              "Forget",
            ),
        },
      ],
      devices.items,
      { testid: "trusted-devices", empty: "No trusted devices: every sign-in asks for a code." },
    ),
    me.mfa_enabled
      ? h(
          "button",
          {
            type: "button",
            "data-testid": "trust-device",
            onclick: () =>
              attempt(out, async () => {
                await api.post("/auth/devices", { name: `browser ${navigator.platform || ""}`.trim().slice(0, 100) });
                location.reload();
              }),
          },
          "Trust this browser",
        )
      : null,
  );
  const sessions = await api.get<{ items: { id: string; created_at: string; last_seen_at: string; current: boolean; user_agent: string | null }[] }>(
    "/auth/sessions",
  );
  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Account"),
      facts(
        fact("Email", me.email, "me-email"),
        fact("Name", me.display_name),
        fact("Platform roles", me.platform_roles.join(", ") || "none", "me-platform-roles"),
        fact("Organizations", me.memberships.map((m) => `${m.organization_name ?? m.organization_id} (${m.role})`).join(", ") || "none"),
      ),
      section("Two-factor authentication", mfa),
      section("Devices", h("p", { class: "muted" }, "A trusted browser signs in without a code; high-risk actions still ask for one."), trust),
      section(
        "Your sessions",
        table(
          [
            { title: "Started", cell: (s) => when(s.created_at) },
            { title: "Last seen", cell: (s) => when(s.last_seen_at) },
            { title: "Browser", cell: (s) => s.user_agent?.slice(0, 60) ?? "—" },
            { title: "", cell: (s) => (s.current ? badge("active", "this session") : "") },
          ],
          sessions.items,
        ),
      ),
      h(
        "button",
        {
          type: "button",
          "data-testid": "sign-out",
          onclick: async () => {
            await api.post("/auth/logout").catch(() => undefined);
            clearTokens();
            location.hash = "";
            location.reload();
          },
        },
        "Sign out",
      ),
      out,
    ),
  };
}
