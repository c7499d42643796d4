/** How a failed API call shows on a page: status, stable code and the human message. 403 says plainly that the page is not for this account. */
import { ApiError } from "./api.ts";
import { h } from "./dom.ts";

export function errorView(err: unknown): HTMLElement {
  if (err instanceof ApiError) {
    return h(
      "div",
      { class: "error-box", role: "alert", "data-testid": "error", "data-status": err.status, "data-code": err.code },
      h("strong", {}, `${err.status} · ${err.code}`),
      h("p", {}, err.message),
      err.status === 403 && err.code === "auth.forbidden" ? h("p", { class: "muted" }, "Your account's roles do not allow this page.") : null,
      err.code === "auth.mfa_enrollment_required"
        ? h("p", {}, "Set up two-factor authentication under ", h("a", { href: "#/account" }, "Account"), " first.")
        : null,
    );
  }
  return h(
    "div",
    { class: "error-box", role: "alert", "data-testid": "error" },
    h("strong", {}, "Error"),
    h("p", {}, err instanceof Error ? err.message : String(err)),
  );
}

/** Runs an action from a button or form and shows its error next to it instead of throwing. */
export async function attempt(out: HTMLElement, fn: () => Promise<void>): Promise<void> {
  out.replaceChildren();
  try {
    await fn();
  } catch (err) {
    out.replaceChildren(errorView(err));
  }
}
