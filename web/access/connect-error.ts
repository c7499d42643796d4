/**
 * What the terminal page says when a connection attempt fails. The client
 * library may reject with an Error, or with the entry's error event (the
 * spec's `{code, fallback_message, …}`, possibly under `error`); either way
 * the page shows one readable line. Messages may quote the URL or host that
 * was tried: users are never shown addresses, so those become the entry
 * point's name.
 */
import type { AttachOffer } from "./model.ts";
import type { ErrorEvent } from "./terminal-transport.ts";

export function scrubEntryAddresses(message: string, entry: AttachOffer["entry"]): string {
  let out = message;
  for (const url of entry.urls) {
    // The WebSocket fallback dials the same host and port as wss:.
    const forms = [url, url.replace(/^https:/, "wss:")];
    if (URL.canParse(url)) {
      const u = new URL(url);
      forms.push(u.host, u.hostname.replace(/^\[|\]$/g, ""));
    }
    for (const f of forms) if (f) out = out.split(f).join(entry.name);
  }
  return out;
}

const isEvent = (x: unknown): x is ErrorEvent =>
  typeof x === "object" && x !== null && typeof (x as ErrorEvent).code === "string" && typeof (x as ErrorEvent).fallback_message === "string";

export function connectErrorMessage(err: unknown, entry: AttachOffer["entry"]): string {
  const event = isEvent(err)
    ? err
    : typeof err === "object" && err !== null && isEvent((err as { error?: unknown }).error)
      ? (err as { error: ErrorEvent }).error
      : null;
  // A session that could not start says why (the adapter's stable code and its text, from the control plane).
  const failure = event?.details?.failure_message ? ` ${String(event.details.failure_message)} (${String(event.details.failure_code)})` : "";
  const text = event ? `${event.fallback_message} (${event.code})${failure}` : err instanceof Error ? err.message : String(err);
  return scrubEntryAddresses(text, entry);
}
