/**
 * The sign-in screen, shared by both apps. It reads the installation status
 * first: an installation without an owner shows the first-owner bootstrap
 * (dev mode: email and password; strict mode: the signed activation
 * manifest). Sign-in asks for the authenticator code when the account has
 * MFA and this browser is not a known device. Below it, single sign-on
 * (lib/sso.ts): "Sign in with <source>" for the platform's and the user's
 * organization's identity sources.
 */
import { api, ApiError } from "./api.ts";
import { field, formValues, h, mount } from "./dom.ts";
import { deviceId, saveTokens, type Tokens } from "./session.ts";
import { showRefusal, ssoSection } from "./sso.ts";

interface Installation {
  activated: boolean;
  mode: "strict" | "dev";
  product_root_fingerprint: string | null;
  insecure_bootstrap_enabled: boolean;
  activated_at: string | null;
}

export async function showSignIn(root: HTMLElement, title: string, onSignedIn: () => void): Promise<void> {
  const inst = await api.get<Installation>("/installation");
  const status = h(
    "p",
    { class: "muted", "data-testid": "installation-status" },
    inst.activated
      ? `Installation activated (${inst.mode} mode) ${inst.activated_at ? `on ${inst.activated_at.slice(0, 10)}` : ""}`
      : `Installation not activated yet (${inst.mode} mode)`,
    inst.product_root_fingerprint ? ` · Product Root ${inst.product_root_fingerprint}` : "",
  );
  const box = h("div", { class: "sign-in" }, h("h1", {}, title), status);
  mount(root, box);
  if (!inst.activated) box.append(bootstrapForm(inst, () => showSignIn(root, title, onSignedIn)));
  else box.append(signInForm(onSignedIn), ssoSection(onSignedIn));
}

function bootstrapForm(inst: Installation, done: () => void): HTMLElement {
  const error = h("p", { class: "error", role: "alert" });
  const strict = inst.mode === "strict";
  if (!strict && !inst.insecure_bootstrap_enabled) {
    return h(
      "p",
      { class: "error" },
      "This installation has no owner and insecure bootstrap is disabled. Sign an activation manifest with the Product Root (scripts/rap) and restart in strict mode.",
    );
  }
  const form = h(
    "form",
    {
      "data-testid": "bootstrap-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = formValues(form);
        try {
          await api.post(
            "/installation/bootstrap-owner",
            strict
              ? { activation: v.activation, password: v.password, display_name: v.display_name }
              : { email: v.email, password: v.password, display_name: v.display_name ?? "Owner" },
          );
          done();
        } catch (err) {
          error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
        }
      },
    },
    h("h2", {}, "Create the first owner"),
    strict
      ? field("Activation manifest (from rap root sign-activation)", h("textarea", { name: "activation", required: true, rows: 4 }))
      : field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    field("Display name", h("input", { name: "display_name" })),
    field("Password (12 characters or more)", h("input", { name: "password", type: "password", required: true, minlength: 12, autocomplete: "new-password" })),
    h("button", { type: "submit", class: "primary" }, "Create owner"),
    error,
  );
  return form;
}

function signInForm(onSignedIn: () => void): HTMLElement {
  const error = h("p", { class: "error", role: "alert", "data-testid": "sign-in-error" });
  const totp = h(
    "label",
    { class: "field hidden", "data-testid": "totp-field" },
    h("span", {}, "Authenticator code"),
    h("input", { name: "totp_code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}" }),
  );
  const form = h(
    "form",
    {
      "data-testid": "sign-in-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = formValues(form);
        error.textContent = "";
        delete error.dataset.code;
        try {
          const tokens = await api.post<Tokens>("/auth/login", {
            email: v.email,
            password: v.password,
            device_id: deviceId(),
            ...(v.totp_code ? { totp_code: v.totp_code } : {}),
          });
          saveTokens(tokens);
          onSignedIn();
        } catch (err) {
          if (err instanceof ApiError && err.code === "auth.mfa_required") {
            totp.classList.remove("hidden");
            error.textContent = "This account uses two-factor authentication: enter the code from your authenticator app.";
            totp.querySelector("input")?.focus();
            return;
          }
          showRefusal(error, err);
        }
      },
    },
    h("h2", {}, "Sign in"),
    field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    field("Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    totp,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    error,
  );
  return form;
}
