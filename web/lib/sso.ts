/**
 * Single sign-on on the sign-in pages of the console, the organization panel
 * and the access portal: "Sign in with <source>" for the platform's source
 * and, once the user names their organization (or the page was opened with
 * `?org=<slug>`), for that organization's sources. OIDC leaves for the
 * provider and comes back with a single-use grant in the URL fragment,
 * redeemed here with the binding value only this tab kept; LDAP asks for the
 * directory login and password. Either may ask for the authenticator code.
 */
import { api, ApiError } from "./api.ts";
import { field, formValues, h, mount } from "./dom.ts";
import { deviceId, saveTokens, type Tokens } from "./session.ts";

const BINDING = "rap.sso.binding";

interface Choice {
  id: string;
  name: string;
  kind: "oidc" | "ldap";
}

const MESSAGES: Record<string, string> = {
  "auth.sso_failed": "The identity provider's answer could not be verified. Try again.",
  "auth.sso_not_authorized": "Your directory account is not allowed into this organization.",
  "auth.sso_account_conflict": "An account with your email already exists; ask an administrator to link it.",
  "auth.sso_email_unverified": "Your identity provider has not verified your email address.",
  "auth.account_disabled": "Your membership is suspended.",
  "identity_source.disabled": "This sign-in method is turned off.",
};

/** A refusal as the page shows it: the human message and the stable code (also in `data-code`), so it can be looked up in docs/identity.md. */
export function showRefusal(el: HTMLElement, err: unknown): void {
  if (err instanceof ApiError || typeof err === "string") {
    const code = typeof err === "string" ? err : err.code;
    const message = MESSAGES[code] ?? (typeof err === "string" ? "Single sign-on failed." : err.message);
    el.textContent = `${message} (${code})`;
    el.dataset.code = code;
    return;
  }
  el.textContent = err instanceof Error ? err.message : String(err);
  delete el.dataset.code;
}

async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The sign-in box's single sign-on part; finishes a sign-in the provider just sent back. */
export function ssoSection(onSignedIn: () => void): HTMLElement {
  const error = h("p", { class: "error", role: "alert", "data-testid": "sso-error" });
  const choices = h("div", { class: "actions", "data-testid": "sso-choices" });
  const extra = h("div");
  const show = async (slug?: string) => {
    const r = await api.get<{ items: Choice[] }>("/auth/sso/sources", slug ? { organization: slug } : {});
    mount(
      choices,
      r.items.map((c) =>
        h(
          "button",
          {
            type: "button",
            "data-testid": `sso-${c.id}`,
            onclick: () => (c.kind === "oidc" ? startOidc(c, error) : mount(extra, ldapForm(c, onSignedIn, error))),
          },
          `Sign in with ${c.name}`,
        ),
      ),
    );
    if (slug && r.items.length === 0) error.textContent = "That organization has no single sign-on.";
  };
  const orgSlug = new URLSearchParams(location.search).get("org") ?? "";
  const org = h("input", { name: "organization", placeholder: "organization", value: orgSlug, "data-testid": "sso-organization" });
  const box = h(
    "div",
    { class: "sso", "data-testid": "sso" },
    h("h2", {}, "Single sign-on"),
    h(
      "div",
      { class: "row" },
      org,
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            error.textContent = "";
            delete error.dataset.code;
            return show(org.value.trim().toLowerCase()).catch((err: unknown) => {
              mount(choices);
              showRefusal(error, err);
            });
          },
        },
        "Find sign-in options",
      ),
    ),
    choices,
    extra,
    error,
  );
  void show(orgSlug || undefined).catch(() => {});
  void finishFromFragment(onSignedIn, error, extra);
  return box;
}

async function startOidc(c: Choice, error: HTMLElement): Promise<void> {
  try {
    const binding = randomValue();
    sessionStorage.setItem(BINDING, binding);
    const r = await api.post<{ authorization_url: string }>("/auth/sso/oidc/start", {
      source_id: c.id,
      return_to: location.pathname,
      binding_hash: await sha256Hex(binding),
    });
    location.assign(r.authorization_url);
  } catch (err) {
    showRefusal(error, err);
  }
}

/** `#sso=<grant>` (redeem it) or `#sso_error=<code>` (say why), then the fragment is cleared. */
async function finishFromFragment(onSignedIn: () => void, error: HTMLElement, extra: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const grant = params.get("sso");
  const failure = params.get("sso_error");
  if (!grant && !failure) return;
  history.replaceState(null, "", location.pathname + location.search);
  if (failure) {
    showRefusal(error, failure);
    return;
  }
  const binding = sessionStorage.getItem(BINDING) ?? "";
  sessionStorage.removeItem(BINDING);
  const redeem = async (code?: string) => {
    try {
      saveTokens(await api.post<Tokens>("/auth/sso/redeem", { grant, binding, device_id: deviceId(), ...(code ? { totp_code: code } : {}) }));
      onSignedIn();
    } catch (err) {
      if (err instanceof ApiError && err.code === "auth.mfa_required") {
        mount(
          extra,
          codeForm((c) => redeem(c)),
        );
        return;
      }
      showRefusal(error, err);
    }
  };
  await redeem();
}

function codeForm(submit: (code: string) => Promise<void>): HTMLElement {
  const form = h(
    "form",
    {
      "data-testid": "sso-totp",
      onsubmit: (e: Event) => {
        e.preventDefault();
        return submit(formValues(form).totp_code ?? "");
      },
    },
    field("Authenticator code", h("input", { name: "totp_code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", required: true })),
    h("button", { type: "submit", class: "primary" }, "Continue"),
  );
  return form;
}

function ldapForm(c: Choice, onSignedIn: () => void, error: HTMLElement): HTMLElement {
  const totp = h("div");
  const form = h(
    "form",
    {
      "data-testid": "sso-ldap",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = formValues(form);
        error.textContent = "";
        try {
          saveTokens(
            await api.post<Tokens>("/auth/sso/ldap/login", {
              source_id: c.id,
              username: v.username,
              password: v.password,
              device_id: deviceId(),
              ...(v.totp_code ? { totp_code: v.totp_code } : {}),
            }),
          );
          onSignedIn();
        } catch (err) {
          if (err instanceof ApiError && err.code === "auth.mfa_required") {
            mount(totp, field("Authenticator code", h("input", { name: "totp_code", inputmode: "numeric", pattern: "[0-9]{6}", required: true })));
            return;
          }
          showRefusal(error, err);
        }
      },
    },
    h("h3", {}, c.name),
    field("Directory login", h("input", { name: "username", required: true, autocomplete: "username" })),
    field("Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    totp,
    h("button", { type: "submit", class: "primary" }, `Sign in with ${c.name}`),
  );
  return form;
}
