/**
 * The node-agent API as one table: for every call `rap-node-agent` makes, the
 * method, the route (relative to `/api/v1/node-agents`), the request body or
 * query schema, and the answer's schema. The server mounts its routes from
 * `route` and validates with `body`/`query`/`param`; the agent's client
 * (agent/client.ts) builds the path from the same `route`, is typed by
 * `body` and validates the answer with `answer`. A changed contract breaks
 * the compile on both sides, not production.
 */
import * as v from "valibot";
import {
  BootstrapBody,
  CertificateRenewBody,
  EnrollmentParam,
  HeartbeatBody,
  JoinBody,
  LinkReportBody,
  MeshEndpointBody,
  EntryEndpointBody,
  NodeSessionBody,
  RouteHealthBody,
  ServiceReportBody,
  SnapshotQuery,
} from "./nodes.ts";
import {
  AdapterAssignments,
  RedeemTokenAnswer,
  RedeemTokenBody,
  SessionEventAnswer,
  SessionEventBody,
  SessionCredentials,
  SessionEventParam,
} from "./adapter.ts";

import { VpnConnectionParam, VpnEpochBody, VpnReleaseAnswer, VpnRenewAnswer, VpnSecretAnswer } from "./vpn.ts";

export const NODE_AGENT_BASE = "/api/v1/node-agents";

const Joined = v.object({ request_id: v.string(), status: v.literal("pending"), poll_interval_seconds: v.number() });
const Challenge = v.object({ challenge: v.string(), expires_in: v.number() });
const BootstrapAnswer = v.variant("status", [
  v.object({ status: v.literal("pending"), poll_interval_seconds: v.number() }),
  v.object({ status: v.literal("rejected"), reason: v.nullable(v.string()) }),
  v.object({ status: v.literal("expired") }),
  v.object({ status: v.literal("approved"), node_id: v.string(), bundle: v.string() }),
]);
const NodeSession = v.object({ access_token: v.string(), expires_in: v.number(), node_id: v.string(), cluster_id: v.string() });
/**
 * What the control plane's rollout wants this node to run (docs/updates.md): the agent version, the
 * repositories to fetch it from in order (the node's update-cache nodes first, then version storage) and
 * the request's id. An agent tries each `request_id` once: a version that failed or was rolled back is
 * not tried again until the control plane issues a new request. Absent or null: no update is asked for.
 */
export const UpdateRequest = v.object({ request_id: v.string(), version: v.string(), sources: v.array(v.string()) });
const HeartbeatAnswer = v.object({ next_heartbeat_seconds: v.number(), update: v.optional(v.nullable(UpdateRequest)) });
const SnapshotPoll = v.variant("changed", [
  v.object({ version: v.number(), changed: v.literal(false) }),
  v.object({ version: v.number(), changed: v.literal(true), snapshot: v.string() }),
]);
const Certificate = v.object({ certificate: v.string(), serial: v.string(), not_after: v.string() });
const ServicesAnswer = v.object({ updated: v.array(v.string()), not_assigned: v.array(v.string()) });
const LinksAnswer = v.object({ recorded: v.number(), reachability_changes: v.number() });
const RouteHealthAnswer = v.object({ recorded: v.number(), changes: v.number() });
const MeshEndpointAnswer = v.object({ address: v.string(), changed: v.boolean() });
const EntryEndpointAnswer = v.object({ changed: v.boolean() });
const Revocations = v.object({ version: v.number(), revocation_list: v.nullable(v.string()) });

interface Call {
  method: "GET" | "POST" | "PUT";
  route: string;
  /** Whether the call needs a node token (everything after enrollment). */
  authenticated: boolean;
  param?: v.GenericSchema;
  body?: v.GenericSchema;
  query?: v.GenericSchema;
  answer: v.GenericSchema;
}

export const NODE_AGENT_API = {
  join: { method: "POST", route: "/enrollments", authenticated: false, body: JoinBody, answer: Joined },
  challenge: { method: "POST", route: "/enrollments/:requestId/challenge", authenticated: false, param: EnrollmentParam, answer: Challenge },
  bootstrap: {
    method: "POST",
    route: "/enrollments/:requestId/bootstrap",
    authenticated: false,
    param: EnrollmentParam,
    body: BootstrapBody,
    answer: BootstrapAnswer,
  },
  session: { method: "POST", route: "/session", authenticated: false, body: NodeSessionBody, answer: NodeSession },
  heartbeat: { method: "POST", route: "/heartbeat", authenticated: true, body: HeartbeatBody, answer: HeartbeatAnswer },
  snapshot: { method: "GET", route: "/snapshot", authenticated: true, query: SnapshotQuery, answer: SnapshotPoll },
  certificate: { method: "POST", route: "/certificate", authenticated: true, body: CertificateRenewBody, answer: Certificate },
  services: { method: "POST", route: "/services", authenticated: true, body: ServiceReportBody, answer: ServicesAnswer },
  links: { method: "POST", route: "/links", authenticated: true, body: LinkReportBody, answer: LinksAnswer },
  routeHealth: { method: "POST", route: "/route-health", authenticated: true, body: RouteHealthBody, answer: RouteHealthAnswer },
  meshEndpoint: { method: "PUT", route: "/mesh-endpoint", authenticated: true, body: MeshEndpointBody, answer: MeshEndpointAnswer },
  /** Entry nodes: where clients connect (URLs and pinned certificate hashes), read into attach offers. */
  entryEndpoint: { method: "PUT", route: "/entry-endpoint", authenticated: true, body: EntryEndpointBody, answer: EntryEndpointAnswer },
  revocations: { method: "GET", route: "/revocations", authenticated: true, answer: Revocations },
  /** Adapter nodes: the remote sessions to run or stop (core/contracts/adapter.ts). */
  sessionAssignments: { method: "GET", route: "/sessions/assignments", authenticated: true, answer: AdapterAssignments },
  /** Adapter events (started, failed, ended) from the session's adapter node; `entry.transport_closed` from one of its entry nodes. */
  sessionEvent: {
    method: "POST",
    route: "/sessions/:sessionId/events",
    authenticated: true,
    param: SessionEventParam,
    body: SessionEventBody,
    answer: SessionEventAnswer,
  },
  /** The session's adapter node only: the resource's credentials to connect with (never logged, audited per delivery). */
  sessionCredentials: {
    method: "GET",
    route: "/sessions/:sessionId/credentials",
    authenticated: true,
    param: SessionEventParam,
    answer: SessionCredentials,
  },
  /** Entry nodes: redeem a client's data-plane token (verified, spent once, attachment still in control). */
  redeemToken: { method: "POST", route: "/data-plane-tokens/redeem", authenticated: true, body: RedeemTokenBody, answer: RedeemTokenAnswer },
  /** VPN owners: renew the lease under its epoch (a refusal means: stop forwarding now). */
  vpnRenew: {
    method: "POST",
    route: "/vpn/:connectionId/renew",
    authenticated: true,
    param: VpnConnectionParam,
    body: VpnEpochBody,
    answer: VpnRenewAnswer,
  },
  /** VPN owners: hand the lease back after forwarding stopped (drain); the standby takes over at once. */
  vpnRelease: {
    method: "POST",
    route: "/vpn/:connectionId/release",
    authenticated: true,
    param: VpnConnectionParam,
    body: VpnEpochBody,
    answer: VpnReleaseAnswer,
  },
  /** The active owner only: the WireGuard configuration (audited per delivery, never logged). */
  vpnSecret: { method: "GET", route: "/vpn/:connectionId/secret", authenticated: true, param: VpnConnectionParam, answer: VpnSecretAnswer },
} as const satisfies Record<string, Call>;

export type NodeAgentApi = typeof NODE_AGENT_API;
export type NodeAgentCall = keyof NodeAgentApi;
/** What the agent sends: the schema's input (before transforms such as defaults). */
export type CallBody<K extends NodeAgentCall> = NodeAgentApi[K] extends { body: infer S extends v.GenericSchema } ? v.InferInput<S> : never;
/** Query parameters as the agent sends them (strings). */
export type CallQuery<K extends NodeAgentCall> = NodeAgentApi[K] extends { query: infer S extends v.GenericSchema } ? v.InferInput<S> : never;
export type CallParams<K extends NodeAgentCall> = NodeAgentApi[K] extends { param: infer S extends v.GenericSchema } ? v.InferInput<S> : never;
export type CallAnswer<K extends NodeAgentCall> = v.InferOutput<NodeAgentApi[K]["answer"]>;

/** The request path of a call: its route with `:name` segments filled from `params`. */
export function callPath<K extends NodeAgentCall>(call: K, params?: Record<string, string>): string {
  const route: string = NODE_AGENT_API[call].route;
  return (
    NODE_AGENT_BASE +
    route.replace(/:([A-Za-z]+)/g, (_, name: string) => {
      const value = params?.[name];
      if (value === undefined) throw new Error(`${call}: missing path parameter ${name}`);
      return encodeURIComponent(value);
    })
  );
}
