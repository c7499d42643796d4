/**
 * Which way traffic to one destination goes now, pure: from the signed path
 * (primary and alternates, maybe pinned by a route intent), which first
 * relays are up, which relay paths failed their pings lately, whether a
 * direct channel works, and what was measured. Decides local failover and
 * reversible shortcuts; the runtime applies the answer.
 */
import { shortcutBlockers, type ShortcutThresholds } from "../../core/routing/routes.ts";

export interface SignedPath {
  via: string[];
  alternates?: string[][];
  pinned?: boolean;
}

export interface RouteState {
  /** The relays in use now ([] = direct), or null when unreachable. */
  current: string[] | null;
  /** When traffic started to use a relay path (for the shortcut's flow age). */
  relayedSince: number | null;
  shortcut: boolean;
  shortcutSince: number | null;
  /** When `current` was set. */
  since: number;
}

export const initialRouteState = (now: number): RouteState => ({ current: null, relayedSince: null, shortcut: false, shortcutSince: null, since: now });

export interface RouteInput {
  path: SignedPath | undefined;
  /** A working direct channel to the destination. */
  direct: boolean;
  firstHopUp: (relay: string) => boolean;
  /** The relay path failed its route-health pings lately. */
  isBad: (via: string[]) => boolean;
  /** Last ping RTT to the destination over relays, if the last answer came through one. */
  relayedRttMs: number | null;
  directRttMs: number | null;
  thresholds: ShortcutThresholds;
  now: number;
}

export type RouteEvent = { type: "shortcut_created"; replaces: string[] } | { type: "shortcut_removed"; back_to: string[] | null };

export interface RouteChoice {
  state: RouteState;
  changed: boolean;
  events: RouteEvent[];
}

export function chooseRoute(prev: RouteState, i: RouteInput): RouteChoice {
  const state = { ...prev };
  const events: RouteEvent[] = [];
  let next: string[] | null;
  if (!i.path) {
    next = i.direct ? [] : null;
    state.shortcut = false;
    state.shortcutSince = null;
  } else {
    // The first signed candidate whose first relay is up and that has not failed its pings lately; a failed one beats none.
    const usable = [i.path.via, ...(i.path.alternates ?? [])].filter((via) => via.length > 0 && i.firstHopUp(via[0]!));
    const relayed = usable.find((via) => !i.isBad(via)) ?? usable[0] ?? null;
    if (state.shortcut && !i.direct) {
      state.shortcut = false;
      state.shortcutSince = null;
      events.push({ type: "shortcut_removed", back_to: relayed });
    }
    if (!state.shortcut && !i.path.pinned && i.direct && relayed && state.relayedSince !== null) {
      const blockers = shortcutBlockers(
        {
          route: { path: relayed, latencyMs: i.relayedRttMs ?? 0, loss: 0, relays: relayed.length },
          direct: { latencyMs: i.directRttMs ?? Number.MAX_SAFE_INTEGER, loss: 0 },
          flowAgeMs: i.now - state.relayedSince,
          policy: { allowShortcut: true, allowDirectPeer: true },
          peerTrusted: true,
        },
        i.thresholds,
      );
      if (blockers.length === 0) {
        state.shortcut = true;
        state.shortcutSince = i.now;
        events.push({ type: "shortcut_created", replaces: relayed });
      }
    }
    next = state.shortcut ? [] : (relayed ?? (i.direct ? [] : null));
  }
  if (next && next.length > 0) state.relayedSince ??= i.now;
  else if (!state.shortcut) state.relayedSince = null;
  const changed = JSON.stringify(next) !== JSON.stringify(state.current);
  if (changed) {
    state.current = next;
    state.since = i.now;
  }
  return { state, changed, events };
}
