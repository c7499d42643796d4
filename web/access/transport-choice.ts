/**
 * Which transport the portal asks the client library for. "auto" tries
 * WebTransport and falls back to WebSocket; a user on a network that breaks
 * UDP (and the tests of the fallback path) can ask for WebSocket only, with
 * the checkbox (remembered in this browser) or `?transport=websocket` in the
 * portal's URL, which wins over the checkbox.
 */
import { h } from "../lib/dom.ts";
import type { TransportChoice } from "./terminal-transport.ts";

const KEY = "rap.access.transport";
const CHOICES: TransportChoice[] = ["auto", "webtransport", "websocket"];

function fromUrl(): TransportChoice | null {
  const v = new URLSearchParams(location.search).get("transport");
  return CHOICES.includes(v as TransportChoice) ? (v as TransportChoice) : null;
}

export function transportChoice(): TransportChoice {
  return fromUrl() ?? (localStorage.getItem(KEY) === "websocket" ? "websocket" : "auto");
}

/** The "Use WebSocket (no WebTransport)" checkbox; disabled while the URL decides. */
export function transportCheckbox(): HTMLElement {
  const forced = fromUrl();
  const box = h("input", {
    type: "checkbox",
    "data-testid": "use-websocket",
    checked: transportChoice() === "websocket",
    disabled: forced !== null,
    onchange: (e: Event) => localStorage.setItem(KEY, (e.target as HTMLInputElement).checked ? "websocket" : "auto"),
  });
  return h(
    "label",
    { class: "check", title: forced ? `Set by the page address (transport=${forced})` : "For networks that block WebTransport (UDP)" },
    box,
    "Use WebSocket (no WebTransport)",
  );
}

export const transportLabel = (t: "webtransport" | "websocket") => (t === "webtransport" ? "WebTransport" : "WebSocket (fallback)");

/** What the status line says while connecting, before the client library reports the transport it got. */
export const requestedLabel = (c: TransportChoice) =>
  c === "websocket" ? "WebSocket only (requested)" : c === "webtransport" ? "WebTransport only (requested)" : "WebTransport, or WebSocket as fallback";
