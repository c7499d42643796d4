/**
 * A small typed DOM helper: `h("tag", attrs, ...children)` builds elements,
 * tables and badges without a framework. Text always goes in as text nodes,
 * never as HTML, so data from the API cannot inject markup.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(key.replace(/^on/, ""), value);
    else if (key === "value" && "value" in el) (el as HTMLInputElement).value = String(value);
    else if (key === "checked" && "checked" in el) (el as HTMLInputElement).checked = value === true;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces everything inside `el`. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Child;
}

/** A table with one row per item; `empty` is shown when there are none. */
export function table<T>(columns: Column<T>[], rows: T[], opts: { testid?: string; empty?: string; rowId?: (row: T) => string } = {}): HTMLElement {
  if (rows.length === 0) return h("p", { class: "muted", "data-testid": opts.testid }, opts.empty ?? "Nothing here yet.");
  return h(
    "table",
    { "data-testid": opts.testid },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", {}, c.title)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          { "data-row": opts.rowId?.(r) },
          columns.map((c) => h("td", {}, c.cell(r))),
        ),
      ),
    ),
  );
}

const TONE: Record<string, string> = {
  healthy: "ok",
  active: "ok",
  running: "ok",
  approved: "ok",
  success: "ok",
  normal: "ok",
  available: "ok",
  stale: "warn",
  pending: "warn",
  draining: "warn",
  starting: "warn",
  stopping: "warn",
  suspended: "warn",
  warning: "warn",
  unknown: "warn",
  expiring: "warn",
  offline: "bad",
  failed: "bad",
  revoked: "bad",
  rejected: "bad",
  disabled: "bad",
  denied: "bad",
  critical: "bad",
  minority: "bad",
  expired: "bad",
  unavailable: "bad",
};

/** A coloured label for a state word. */
export const badge = (state: string | null | undefined, label?: string) =>
  h("span", { class: `badge ${TONE[state ?? ""] ?? "plain"}`, "data-state": state ?? "" }, label ?? state ?? "—");

/** A labelled value for fact lists. */
export const fact = (label: string, value: Child, testid?: string) =>
  h("div", { class: "fact" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value ?? "—"));

export const facts = (...items: HTMLElement[]) => h("dl", { class: "facts" }, items);

export const card = (label: string, value: Child, testid?: string, tone?: string) =>
  h("div", { class: `card ${tone ?? ""}` }, h("div", { class: "card-value", "data-testid": testid }, value), h("div", { class: "card-label" }, label));

export const section = (title: string, ...children: Child[]) => h("section", {}, h("h2", {}, title), children);

export const link = (href: string, ...children: Child[]) => h("a", { href }, children);

/** Values of a form's named inputs, trimmed; empty strings are left out. */
export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new FormData(form).entries()) if (typeof v === "string" && v.trim() !== "") out[k] = v.trim();
  return out;
}

export const field = (label: string, input: HTMLElement) => h("label", { class: "field" }, h("span", {}, label), input);
