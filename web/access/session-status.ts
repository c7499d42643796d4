/**
 * The status bar above a session's screen, the same for a terminal and a
 * desktop: back to the list, the resource, the entry point and transport in
 * use, then what each screen adds (its state, controls and actions).
 */
import { h, type Child } from "../lib/dom.ts";

export function sessionStatusBar(resourceName: string, entry: Child, via: Child, ...rest: Child[]): HTMLElement {
  return h(
    "div",
    { class: "terminal-status", "data-testid": "terminal-status" },
    h("a", { href: "#/sessions", class: "back", "data-testid": "back-to-sessions" }, "← My sessions"),
    h("strong", { "data-testid": "terminal-resource" }, resourceName),
    h("span", { class: "muted" }, "Entry point "),
    entry,
    h("span", { class: "muted" }, "Transport "),
    via,
    ...rest,
  );
}
