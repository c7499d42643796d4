/**
 * Hash routing with live pages. A route renders a page once; a page may hand
 * back `refresh`, which the router calls every few seconds while that page is
 * shown (polling keeps tables, health and pending requests current without
 * replacing forms the operator is typing in). Leaving the page stops it.
 * A page that holds a live resource (the access portal's terminal and its
 * connection) hands back `mounted`, called once its element is in the
 * document, and `dispose`, called when another page replaces it.
 */
import { mount } from "./dom.ts";
import { errorView } from "./errors.ts";

export interface PageView {
  el: HTMLElement;
  refresh?: () => Promise<void>;
  mounted?: () => void;
  dispose?: () => void;
}
export type Route = (params: Record<string, string>, query: URLSearchParams) => Promise<PageView>;

export const REFRESH_MS = 2000;

export function startRouter(outlet: HTMLElement, routes: Record<string, Route>, fallback: string, onRoute?: (path: string) => void): void {
  let generation = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shown: PageView | undefined;
  const replace = (next: PageView | undefined, el: HTMLElement) => {
    shown?.dispose?.();
    shown = next;
    mount(outlet, el);
    next?.mounted?.();
  };

  const render = async () => {
    const gen = ++generation;
    clearTimeout(timer);
    const [path = "", search = ""] = location.hash.replace(/^#/, "").split("?");
    const match = find(routes, path);
    if (!match) {
      location.hash = fallback;
      return;
    }
    onRoute?.(path);
    let view: PageView;
    try {
      view = await match.route(match.params, new URLSearchParams(search));
    } catch (err) {
      if (gen === generation) replace(undefined, errorView(err));
      return;
    }
    if (gen !== generation) {
      view.dispose?.();
      return;
    }
    replace(view, view.el);
    const loop = async () => {
      if (gen !== generation || !view.refresh) return;
      try {
        await view.refresh();
      } catch {
        // A failed poll keeps the last good view; the next one tries again.
      }
      if (gen === generation) timer = setTimeout(loop, REFRESH_MS);
    };
    if (view.refresh) timer = setTimeout(loop, REFRESH_MS);
  };
  addEventListener("hashchange", () => void render());
  void render();
}

function find(routes: Record<string, Route>, path: string): { route: Route; params: Record<string, string> } | null {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, route] of Object.entries(routes)) {
    const want = pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matches = want.every((w, i) => {
      if (!w.startsWith(":")) return w === parts[i];
      params[w.slice(1)] = decodeURIComponent(parts[i]!);
      return true;
    });
    if (matches) return { route, params };
  }
  return null;
}

/** Builds a hash link with a query. */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) p.set(k, v);
  const s = p.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}
