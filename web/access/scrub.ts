/**
 * Keeps entry addresses off the screen. A connection error from the client
 * library may quote the URL or host it tried; the portal shows the entry
 * point's name instead, since users are never shown addresses.
 */
import type { AttachOffer } from "./model.ts";

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
