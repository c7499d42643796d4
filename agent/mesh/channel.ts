/**
 * The node-to-node channel lifecycle (spec: secure-node-to-node-channel-
 * lifecycle), as a pure xstate machine. The transport (QUIC with mTLS, in
 * crates/fabric-quic) drives it with events; the machine decides. Nothing is
 * sent before `established`; certificate identity (cluster, node, validity,
 * revocation) and channel authorization (classes, route epoch, draining,
 * partition) are checked in order; failures carry the spec's reasons.
 *
 *   idle → connecting → handshaking → authenticating → authorizing → established
 *   established ⇄ revalidating · established ⇄ degraded · established → draining → closing → closed
 *   any live state → failed (reason)       closed and failed are terminal: reconnect makes a new channel
 */
import { assign, setup } from "xstate";

import { CHANNEL_CLASSES, type ChannelClass as ChannelClassName } from "../../core/contracts/channel-classes.ts";

/** The transport's channel classes (one list, in crates/fabric-quic). */
export { CHANNEL_CLASSES, type ChannelClassName };
/** May continue while revalidating or draining: liveness and control never wait. */
export const ESSENTIAL: ReadonlySet<ChannelClassName> = new Set(["fabric_control", "route_control", "health"]);

export type FailureReason =
  | "tls_handshake_failed"
  | "certificate_invalid"
  | "certificate_revoked"
  | "wrong_cluster"
  | "wrong_node"
  | "policy_denied"
  | "channel_class_denied"
  | "route_epoch_stale"
  | "heartbeat_timeout"
  | "peer_draining"
  | "peer_disabled"
  | "trust_bundle_stale"
  | "network_unreachable"
  | "backoff_exhausted";

export interface PeerCertificate {
  clusterId: string;
  nodeId: string;
  serial: string;
  notBefore: number;
  notAfter: number;
}
export interface Hello {
  protocolVersion: number;
  clusterId: string;
  nodeId: string;
  classes: ChannelClassName[];
  routeEpoch: number;
  trustBundleVersion: number;
  draining: boolean;
}
/** What local policy (from the signed snapshot) allows with this peer. */
export interface ChannelPolicy {
  allowedClasses: ChannelClassName[];
  routeEpoch: number;
  trustBundleVersion: number;
  revokedSerials: ReadonlySet<string>;
  peerDisabled: boolean;
}

export const PROTOCOL_VERSION = 1;
export const MISSED_HEARTBEATS_TO_FAIL = 3;

export interface ChannelContext {
  clusterId: string;
  expectedPeer: string;
  peerSerial: string | null;
  classes: ChannelClassName[];
  missedHeartbeats: number;
  suspect: boolean;
  degradedUntil: number | null;
  failure: FailureReason | null;
}

export type ChannelEvent =
  | { type: "open" }
  | { type: "transport.connected" }
  | { type: "transport.error"; handshake: boolean }
  | { type: "tls.verified"; cert: PeerCertificate; now: number; revokedSerials: ReadonlySet<string> }
  | { type: "hello"; hello: Hello; policy: ChannelPolicy; requested: ChannelClassName[] }
  | { type: "heartbeat.received" }
  | { type: "heartbeat.missed" }
  | { type: "revalidate" }
  | { type: "revalidated"; cert: PeerCertificate; policy: ChannelPolicy; now: number }
  | { type: "revoked"; serials: ReadonlySet<string> }
  | { type: "control_plane.unreachable"; now: number; ttlMs: number }
  | { type: "control_plane.reachable" }
  | { type: "tick"; now: number }
  | { type: "drain" }
  | { type: "drained" }
  | { type: "close" }
  | { type: "transport.closed" };

/** Why a peer certificate is refused, or null. Valid TLS is necessary, not sufficient. */
export function certificateProblem(
  ctx: Pick<ChannelContext, "clusterId" | "expectedPeer">,
  cert: PeerCertificate,
  now: number,
  revoked: ReadonlySet<string>,
): FailureReason | null {
  if (cert.clusterId !== ctx.clusterId) return "wrong_cluster";
  if (cert.nodeId !== ctx.expectedPeer) return "wrong_node";
  if (cert.notAfter <= now || cert.notBefore > now) return "certificate_invalid";
  if (revoked.has(cert.serial)) return "certificate_revoked";
  return null;
}

/** Why the hello does not authorize the requested classes, or null. */
export function authorizationProblem(
  ctx: Pick<ChannelContext, "clusterId" | "expectedPeer">,
  hello: Hello,
  policy: ChannelPolicy,
  requested: ChannelClassName[],
): FailureReason | null {
  if (hello.protocolVersion !== PROTOCOL_VERSION) return "policy_denied";
  if (hello.clusterId !== ctx.clusterId) return "wrong_cluster";
  if (hello.nodeId !== ctx.expectedPeer) return "wrong_node";
  if (policy.peerDisabled) return "peer_disabled";
  if (hello.trustBundleVersion < policy.trustBundleVersion) return "trust_bundle_stale";
  if (hello.routeEpoch < policy.routeEpoch) return "route_epoch_stale";
  if (requested.some((c) => !policy.allowedClasses.includes(c) || !hello.classes.includes(c))) return "channel_class_denied";
  if (hello.draining && requested.some((c) => !ESSENTIAL.has(c))) return "peer_draining";
  return null;
}

export const channelMachine = setup({
  types: {} as { context: ChannelContext; events: ChannelEvent; input: { clusterId: string; expectedPeer: string } },
  actions: {
    recordFailure: assign((_, params: { reason: FailureReason }) => ({ failure: params.reason })),
  },
  guards: {
    certBad: ({ context, event }) => event.type === "tls.verified" && certificateProblem(context, event.cert, event.now, event.revokedSerials) !== null,
    helloBad: ({ context, event }) => event.type === "hello" && authorizationProblem(context, event.hello, event.policy, event.requested) !== null,
    revalidationBad: ({ context, event }) =>
      event.type === "revalidated" &&
      (certificateProblem(context, event.cert, event.now, event.policy.revokedSerials) !== null ||
        event.policy.peerDisabled ||
        context.classes.some((c) => !event.policy.allowedClasses.includes(c))),
    ourPeerRevoked: ({ context, event }) => event.type === "revoked" && context.peerSerial !== null && event.serials.has(context.peerSerial),
    heartbeatsExhausted: ({ context }) => context.missedHeartbeats + 1 >= MISSED_HEARTBEATS_TO_FAIL,
    degradedExpired: ({ context, event }) => event.type === "tick" && context.degradedUntil !== null && event.now >= context.degradedUntil,
  },
}).createMachine({
  id: "channel",
  initial: "idle",
  context: ({ input }) => ({
    clusterId: input.clusterId,
    expectedPeer: input.expectedPeer,
    peerSerial: null,
    classes: [],
    missedHeartbeats: 0,
    suspect: false,
    degradedUntil: null,
    failure: null,
  }),
  states: {
    idle: { on: { open: "connecting" } },
    connecting: {
      on: {
        "transport.connected": "handshaking",
        "transport.error": { target: "#channel.failed", actions: { type: "recordFailure", params: { reason: "network_unreachable" } } },
        close: "closed",
      },
    },
    handshaking: {
      on: {
        "tls.verified": [
          {
            guard: "certBad",
            target: "failed",
            actions: assign(({ context, event }) => ({ failure: certificateProblem(context, event.cert, event.now, event.revokedSerials) })),
          },
          { target: "authenticating", actions: assign(({ event }) => ({ peerSerial: event.cert.serial })) },
        ],
        "transport.error": { target: "#channel.failed", actions: { type: "recordFailure", params: { reason: "tls_handshake_failed" } } },
      },
    },
    authenticating: {
      // The certificate is good; the peer must still say who it is and what it wants.
      always: "authorizing",
    },
    authorizing: {
      on: {
        hello: [
          {
            guard: "helloBad",
            target: "failed",
            actions: assign(({ context, event }) => ({ failure: authorizationProblem(context, event.hello, event.policy, event.requested) })),
          },
          { target: "established", actions: assign(({ event }) => ({ classes: event.requested })) },
        ],
        "transport.error": { target: "#channel.failed", actions: { type: "recordFailure", params: { reason: "network_unreachable" } } },
      },
    },
    established: {
      on: {
        revalidate: "revalidating",
        drain: "draining",
        "control_plane.unreachable": { target: "degraded", actions: assign(({ event }) => ({ degradedUntil: event.now + event.ttlMs })) },
      },
    },
    revalidating: {
      on: {
        revalidated: [{ guard: "revalidationBad", target: "draining", actions: assign({ failure: "policy_denied" }) }, { target: "established" }],
      },
    },
    degraded: {
      on: {
        "control_plane.reachable": { target: "established", actions: assign({ degradedUntil: null }) },
        tick: { guard: "degradedExpired", target: "draining", actions: assign({ failure: "trust_bundle_stale" }) },
        drain: "draining",
      },
    },
    draining: { on: { drained: "closing" } },
    closing: { on: { "transport.closed": "closed" } },
    closed: { type: "final" },
    failed: { type: "final" },
  },
  // In every live state: heartbeats, revocation and a hard close.
  on: {
    "heartbeat.received": { actions: assign({ missedHeartbeats: 0, suspect: false }) },
    "heartbeat.missed": [
      { guard: "heartbeatsExhausted", target: ".failed", actions: assign({ failure: "heartbeat_timeout" }) },
      { actions: assign(({ context }) => ({ missedHeartbeats: context.missedHeartbeats + 1, suspect: true })) },
    ],
    revoked: { guard: "ourPeerRevoked", target: ".failed", actions: assign({ failure: "certificate_revoked" }) },
    close: ".closing",
    "transport.closed": ".closed",
  },
});

type Snap = { value: unknown; context: ChannelContext };

/** May this class be sent now? Nothing before `established`; only essential classes while revalidating or draining. */
export function canSend(s: Snap, cls: ChannelClassName): boolean {
  if (!s.context.classes.includes(cls)) return false;
  if (s.value === "established" || s.value === "degraded") return true;
  if (s.value === "revalidating" || s.value === "draining") return ESSENTIAL.has(cls);
  return false;
}

/** Reconnect delay: exponential with full jitter, capped; null once attempts are exhausted (backoff_exhausted). */
export function reconnectDelay(attempt: number, random: number, opts = { baseMs: 500, capMs: 60_000, maxAttempts: 12 }): number | null {
  if (attempt >= opts.maxAttempts) return null;
  return Math.floor(random * Math.min(opts.capMs, opts.baseMs * 2 ** attempt));
}
