/**
 * Modal prompts built from plain DOM: the step-up code prompt, a one-line
 * reason prompt, and a yes/no question (the access portal's takeover). They
 * resolve with the entered value (or true) and null (or false) when cancelled.
 */
import { h } from "./dom.ts";

export function prompt(opts: {
  title: string;
  text: string;
  label: string;
  name: string;
  inputmode?: string;
  autocomplete?: string;
  submit: string;
}): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h("input", {
      name: opts.name,
      required: true,
      inputmode: opts.inputmode,
      autocomplete: opts.autocomplete ?? "off",
      "data-testid": `${opts.name}-input`,
    });
    const close = (value: string | null) => {
      overlay.remove();
      resolve(value);
    };
    const form = h(
      "form",
      {
        class: "dialog",
        role: "dialog",
        "aria-modal": "true",
        "data-testid": `${opts.name}-dialog`,
        onsubmit: (e: Event) => {
          e.preventDefault();
          close(input.value.trim() || null);
        },
      },
      h("h2", {}, opts.title),
      h("p", {}, opts.text),
      h("label", { class: "field" }, h("span", {}, opts.label), input),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", "data-testid": `${opts.name}-submit` }, opts.submit),
        h("button", { type: "button", onclick: () => close(null) }, "Cancel"),
      ),
    );
    const overlay = h("div", { class: "overlay" }, form);
    document.body.appendChild(overlay);
    input.focus();
  });
}

/** A question with two answers; `name` makes the test ids (`<name>-dialog`, `<name>-confirm`, `<name>-cancel`). */
export function confirm(opts: { title: string; text: string; name: string; yes: string; no?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const close = (value: boolean) => {
      overlay.remove();
      resolve(value);
    };
    const yes = h("button", { type: "submit", class: "primary", "data-testid": `${opts.name}-confirm` }, opts.yes);
    const form = h(
      "form",
      {
        class: "dialog",
        role: "alertdialog",
        "aria-modal": "true",
        "data-testid": `${opts.name}-dialog`,
        onsubmit: (e: Event) => {
          e.preventDefault();
          close(true);
        },
      },
      h("h2", {}, opts.title),
      h("p", {}, opts.text),
      h(
        "div",
        { class: "actions" },
        yes,
        h("button", { type: "button", "data-testid": `${opts.name}-cancel`, onclick: () => close(false) }, opts.no ?? "Cancel"),
      ),
    );
    const overlay = h("div", { class: "overlay" }, form);
    document.body.appendChild(overlay);
    yes.focus();
  });
}
