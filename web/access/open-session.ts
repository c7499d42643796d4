/**
 * Getting an attach offer for a session: start a new one on a resource,
 * reattach to one of the user's sessions, or take it over when another
 * device holds it (`409 remote_session.attached_elsewhere` → a prompt →
 * `/takeover`). The offer carries a single-use token that lives about a
 * minute, so it is kept in memory only (never in storage or the URL) and
 * handed to the terminal page, which asks for a fresh one when it has none.
 */
import { api, ApiError } from "../lib/api.ts";
import { confirm } from "../lib/dialog.ts";
import type { AttachOffer, RemoteSession } from "./model.ts";

const pending = new Map<string, AttachOffer>();

/** The offer obtained for `sessionId` by the page that navigated here, once. */
export function takePendingOffer(sessionId: string): AttachOffer | undefined {
  const offer = pending.get(sessionId);
  pending.delete(sessionId);
  return offer;
}

export const terminalHash = (sessionId: string) => `#/terminal/${sessionId}`;

/** Starts a session on the resource and opens its terminal page. */
export async function startSession(resourceId: string): Promise<void> {
  const r = await api.post<{ session: RemoteSession; attach: AttachOffer }>("/remote-sessions", { resource_id: resourceId });
  pending.set(r.session.id, r.attach);
  location.hash = terminalHash(r.session.id);
}

/**
 * An offer for one of the user's sessions: a reattach, or a takeover once the
 * user agrees. null when the user declined to take the session over.
 */
export async function attachOffer(sessionId: string): Promise<AttachOffer | null> {
  try {
    return await api.post<AttachOffer>(`/remote-sessions/${sessionId}/attach`);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "remote_session.attached_elsewhere")) throw err;
  }
  const yes = await confirm({
    title: "Session open elsewhere",
    text: "This session is open on another device. Take it over? The other device is disconnected and sees that the session was taken over.",
    name: "takeover",
    yes: "Take over",
  });
  if (!yes) return null;
  return api.post<AttachOffer>(`/remote-sessions/${sessionId}/takeover`);
}

/** Reattaches (or takes over) and opens the terminal page; stays put when the user declines. */
export async function reattach(sessionId: string): Promise<void> {
  const offer = await attachOffer(sessionId);
  if (!offer) return;
  pending.set(sessionId, offer);
  location.hash = terminalHash(sessionId);
}
