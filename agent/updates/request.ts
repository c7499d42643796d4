/**
 * Where the version a node should run comes from, as pure decisions (no IO):
 * the control plane's rollout (the heartbeat answer's `update`, contract
 * `UpdateRequest` in core/contracts/node-agent-api.ts) or an operator on the
 * node (`rap-node-agent update request`). Both end up as the `desired` file
 * that the updater acts on; this module says what that file holds and when a
 * heartbeat's request may replace it.
 *
 * Each control-plane request id is tried once: an update that settled
 * (running, rolled back, refused) answers its id, and an answered id is never
 * tried again, so a version that failed stays failed until the control plane
 * issues a new request (a halted rollout that asks again). The answered ids
 * live in the updates directory, beside the slots, so they survive restarts
 * and slot switches.
 */
import * as v from "valibot";
import { ReleaseVersion } from "../../core/updates/manifest.ts";

/** What the `desired` file asks for. `requestId` and `sources` only when the control plane asked. */
export interface DesiredUpdate {
  version: string;
  requestId?: string;
  /** Replace RAP_UPDATE_SOURCES for this request when not empty (the node's update caches, then version storage). */
  sources?: string[];
}

/** The heartbeat answer's `update` (core/contracts/node-agent-api.ts `UpdateRequest`). */
export interface OfferedUpdate {
  request_id: string;
  version: string;
  sources: string[];
}

const DesiredFile = v.strictObject({
  version: ReleaseVersion,
  request_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
  sources: v.optional(v.pipe(v.array(v.pipe(v.string(), v.url())), v.maxLength(16))),
});

/** How many answered request ids are kept (the newest): far more than a rollout re-issues. */
export const ANSWERED_KEPT = 200;

/**
 * The `desired` file's text: one line with a version (an operator's request,
 * the format `update request` has always written) or a JSON object (a
 * control-plane request). Anything else is no request.
 */
export function parseDesired(text: string): DesiredUpdate | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (!t.startsWith("{")) return v.is(ReleaseVersion, t) ? { version: t } : undefined;
  let json: unknown;
  try {
    json = JSON.parse(t);
  } catch {
    return undefined;
  }
  const r = v.safeParse(DesiredFile, json);
  if (!r.success) return undefined;
  return {
    version: r.output.version,
    ...(r.output.request_id ? { requestId: r.output.request_id } : {}),
    ...(r.output.sources?.length ? { sources: r.output.sources } : {}),
  };
}

export function formatDesired(d: DesiredUpdate): string {
  if (!d.requestId && !d.sources) return `${d.version}\n`;
  return `${JSON.stringify({ version: d.version, ...(d.requestId ? { request_id: d.requestId } : {}), ...(d.sources ? { sources: d.sources } : {}) })}\n`;
}

export type OfferDecision =
  /** Nothing to do: no request, already answered, an update under way, or an operator's request goes first. */
  | { kind: "ignore"; why: string }
  /** The version already runs: the request is answered without an update. */
  | { kind: "answer_now" }
  /** Write `desired`: the updater starts on its next tick. */
  | { kind: "desire"; desired: DesiredUpdate };

/**
 * What to do with the `update` of a heartbeat answer. `busy`: an update is
 * under way (its own request, if any, is answered when it settles).
 * `pending`: the `desired` file as it is now.
 */
export function decideOffer(input: {
  offer: OfferedUpdate | null | undefined;
  answered: ReadonlySet<string>;
  current: string;
  busy: boolean;
  pending: DesiredUpdate | undefined;
}): OfferDecision {
  const { offer } = input;
  if (!offer) return { kind: "ignore", why: "nothing asked" };
  if (!v.is(ReleaseVersion, offer.version)) return { kind: "ignore", why: `"${String(offer.version).slice(0, 40)}" is not a release version` };
  if (!offer.request_id || offer.request_id.length > 200) return { kind: "ignore", why: "the request id is empty or longer than 200 characters" };
  if (input.answered.has(offer.request_id)) return { kind: "ignore", why: "already answered" };
  if (input.busy) return { kind: "ignore", why: "an update is under way" };
  if (input.pending && input.pending.requestId === undefined) return { kind: "ignore", why: "an operator's request on this node goes first" };
  if (input.pending?.requestId === offer.request_id) return { kind: "ignore", why: "already asked" };
  if (offer.version === input.current) return { kind: "answer_now" };
  const sources = offer.sources.filter((s) => v.is(v.pipe(v.string(), v.url()), s)).slice(0, 16);
  return { kind: "desire", desired: { version: offer.version, requestId: offer.request_id, ...(sources.length ? { sources } : {}) } };
}

/** The answered ids after answering `id`: newest last, at most ANSWERED_KEPT. */
export function withAnswered(answered: readonly string[], id: string): string[] {
  return [...answered.filter((x) => x !== id), id].slice(-ANSWERED_KEPT);
}
