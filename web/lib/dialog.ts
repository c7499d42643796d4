/**
 * Modal prompts built from plain DOM: the step-up code prompt and a one-line
 * reason prompt. They resolve with the entered value or null when cancelled.
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
