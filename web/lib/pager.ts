/**
 * Keyset pagination for any list of the API ({items, next_cursor}): a page
 * at a time, with Next, Previous (a stack of cursors) and First. `reload`
 * fetches the current page again, for live refresh. With 10,000 nodes the
 * browser only ever holds one page.
 */
import type { Page } from "./api.ts";
import { h, mount } from "./dom.ts";

export interface Pager {
  el: HTMLElement;
  reload(): Promise<void>;
}

export function pager<T>(load: (cursor: string | undefined) => Promise<Page<T>>, render: (items: T[]) => HTMLElement, testid = "pager"): Pager {
  const body = h("div", { class: "page-body" });
  const info = h("span", { class: "muted", "data-testid": `${testid}-info` });
  const prev = h("button", { type: "button", "data-testid": `${testid}-prev`, onclick: () => go(stack.length - 2) }, "← Previous");
  const next = h("button", { type: "button", "data-testid": `${testid}-next`, onclick: () => nextCursor && go(stack.length, nextCursor) }, "Next →");
  const stack: (string | undefined)[] = [undefined];
  let nextCursor: string | null = null;

  async function go(index: number, cursor?: string) {
    if (index < 0) return;
    if (index === stack.length) stack.push(cursor);
    stack.length = index + 1;
    await reload();
  }

  async function reload() {
    const p = await load(stack[stack.length - 1]);
    nextCursor = p.next_cursor;
    mount(body, render(p.items));
    info.textContent = `page ${stack.length} · ${p.items.length} shown${p.next_cursor ? " · more" : ""}`;
    prev.disabled = stack.length <= 1;
    next.disabled = !p.next_cursor;
  }

  return {
    el: h("div", { class: "paged", "data-testid": testid }, body, h("div", { class: "pager" }, prev, info, next)),
    reload,
  };
}
