/**
 * /api/v1/node-agents: what rap-node-agent calls, mounted from the one
 * contract table in core/contracts/node-agent-api.ts (routes and schemas).
 * Enrollment is public (capped body, rate-limited per token and source);
 * everything after it is authenticated by the node's own key
 * (http/node-agents/auth.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { valid } from "../validate.ts";
import { clientIp } from "../client-ip.ts";
import { NODE_AGENT_API as API } from "../../core/contracts/node-agent-api.ts";
import { HEARTBEAT_INTERVAL_SECONDS } from "../../core/fabric.ts";
import { bootstrap, issueChallenge, submitJoin } from "../../control/enrollment/service.ts";
import { exchangeNodeProof, type NodePrincipal } from "../../control/nodes/node-auth.ts";
import { renewCertificate } from "../../control/nodes/service.ts";
import {
  advertiseMeshEndpoint,
  publishEntry,
  agentChange,
  pollSnapshot,
  reportLinks,
  reportNodeServices,
  reportRouteHealth,
  revocationList,
  submitHeartbeat,
} from "../../control/nodes/agent-reports.ts";
import { authenticateNode } from "./auth.ts";
import { answerUpdate, versionStorageUrl } from "../../control/versions/heartbeat.ts";
import { adapterAssignments, reportSessionEvent } from "../../control/sessions/service.ts";
import { redeemDataPlaneToken } from "../../control/sessions/tokens.ts";
import { sessionCredentials } from "../../control/sessions/credentials.ts";
import { describeRoutes, type RouteDoc } from "../openapi/registry.ts";
import { releaseVpnLease, renewVpnLease, vpnSecretFor } from "../../control/vpn/node-calls.ts";

type NodeEnv = AppEnv & { Variables: { node: NodePrincipal } };

// Per route, not `use()`: middleware of a sub-app mounted at "/" would also guard the public enrollment routes.
const nodeAuth = authenticateNode();

const authed = new Hono<NodeEnv>()
  .post(API.heartbeat.route, nodeAuth, valid("json", API.heartbeat.body), async (c) => {
    const body = c.req.valid("json");
    await submitHeartbeat(c.get("deps"), c.get("node"), body);
    const update = await answerUpdate(c.get("deps"), c.get("node"), body, versionStorageUrl(c.req.url));
    return c.json({ next_heartbeat_seconds: HEARTBEAT_INTERVAL_SECONDS, update }, 202);
  })
  .get(API.snapshot.route, nodeAuth, valid("query", API.snapshot.query), async (c) => {
    const { after_version: after, wait = 0 } = c.req.valid("query");
    return c.json(await pollSnapshot(c.get("deps"), c.get("node"), after, wait));
  })
  .post(API.certificate.route, nodeAuth, valid("json", API.certificate.body), async (c) => {
    const node = c.get("node");
    return c.json(await renewCertificate(c.get("deps"), node.nodeId, c.req.valid("json").csr, agentChange(c.get("traceId"), node.nodeId)), 201);
  })
  .post(API.services.route, nodeAuth, valid("json", API.services.body), async (c) =>
    c.json(await reportNodeServices(c.get("deps"), c.get("node"), c.req.valid("json").services)),
  )
  .post(API.links.route, nodeAuth, valid("json", API.links.body), async (c) =>
    c.json(await reportLinks(c.get("deps"), c.get("node"), c.req.valid("json").observations), 202),
  )
  .post(API.routeHealth.route, nodeAuth, valid("json", API.routeHealth.body), async (c) =>
    c.json(await reportRouteHealth(c.get("deps"), c.get("node"), c.req.valid("json").reports), 202),
  )
  .put(API.entryEndpoint.route, nodeAuth, valid("json", API.entryEndpoint.body), async (c) =>
    c.json(await publishEntry(c.get("deps"), c.get("node"), c.req.valid("json"))),
  )
  .put(API.meshEndpoint.route, nodeAuth, valid("json", API.meshEndpoint.body), async (c) =>
    c.json(await advertiseMeshEndpoint(c.get("deps"), c.get("node"), c.req.valid("json").address)),
  )
  .get(API.revocations.route, nodeAuth, async (c) => c.json(await revocationList(c.get("deps"), c.get("node"))))
  .get(API.sessionAssignments.route, nodeAuth, async (c) => c.json({ assignments: await adapterAssignments(c.get("deps"), c.get("node")) }))
  .post(API.sessionEvent.route, nodeAuth, valid("param", API.sessionEvent.param), valid("json", API.sessionEvent.body), async (c) => {
    const node = c.get("node");
    return c.json(
      await reportSessionEvent(c.get("deps"), node, c.req.valid("param").sessionId, c.req.valid("json"), agentChange(c.get("traceId"), node.nodeId)),
    );
  })
  .get(API.sessionCredentials.route, nodeAuth, valid("param", API.sessionCredentials.param), async (c) => {
    const node = c.get("node");
    const creds = await sessionCredentials(c.get("deps"), node, c.req.valid("param").sessionId, agentChange(c.get("traceId"), node.nodeId));
    c.header("Cache-Control", "no-store");
    return c.json(creds);
  })
  .post(API.redeemToken.route, nodeAuth, valid("json", API.redeemToken.body), async (c) =>
    c.json(await redeemDataPlaneToken(c.get("deps"), c.get("node"), c.req.valid("json"))),
  )
  .post(API.vpnRenew.route, nodeAuth, valid("param", API.vpnRenew.param), valid("json", API.vpnRenew.body), async (c) => {
    const node = c.get("node");
    const { connectionId } = c.req.valid("param");
    return c.json(await renewVpnLease(c.get("deps"), node.nodeId, connectionId, c.req.valid("json").epoch, agentChange(c.get("traceId"), node.nodeId)));
  })
  .post(API.vpnRelease.route, nodeAuth, valid("param", API.vpnRelease.param), valid("json", API.vpnRelease.body), async (c) => {
    const node = c.get("node");
    const { connectionId } = c.req.valid("param");
    return c.json(await releaseVpnLease(c.get("deps"), node.nodeId, connectionId, c.req.valid("json").epoch, agentChange(c.get("traceId"), node.nodeId)));
  })
  .get(API.vpnSecret.route, nodeAuth, valid("param", API.vpnSecret.param), async (c) => {
    const node = c.get("node");
    const secret = await vpnSecretFor(c.get("deps"), node.nodeId, c.req.valid("param").connectionId, agentChange(c.get("traceId"), node.nodeId));
    c.header("Cache-Control", "no-store");
    return c.json(secret);
  });

export const nodeAgentRoutes = new Hono<AppEnv>()
  .post(API.join.route, valid("json", API.join.body), async (c) =>
    c.json(await submitJoin(c.get("deps"), c.req.valid("json"), clientIp(c), agentChange(c.get("traceId"))), 202),
  )
  .post(API.challenge.route, valid("param", API.challenge.param), async (c) =>
    c.json(await issueChallenge(c.get("deps"), c.req.valid("param").requestId, clientIp(c))),
  )
  .post(API.bootstrap.route, valid("param", API.bootstrap.param), valid("json", API.bootstrap.body), async (c) =>
    c.json(await bootstrap(c.get("deps"), c.req.valid("param").requestId, c.req.valid("json"), clientIp(c), agentChange(c.get("traceId")))),
  )
  .post(API.session.route, valid("json", API.session.body), async (c) => c.json(await exchangeNodeProof(c.get("deps"), c.req.valid("json").proof)))
  .route("/", authed);

// The OpenAPI document of each call, keyed by its row of the contract table (which also gives the answer's schema).
const callDocs = (docs: Record<keyof typeof API, Omit<RouteDoc, "answer">>) =>
  Object.fromEntries(
    Object.entries(docs).map(([k, d]) => {
      const call = API[k as keyof typeof API];
      return [`${call.method} ${call.route}`, { ...d, answer: call.answer }];
    }),
  );

describeRoutes(
  nodeAgentRoutes,
  callDocs({
    heartbeat: { summary: "Heartbeat (durably written before the answer)", status: 202, errors: ["node.not_active"] },
    snapshot: { summary: "Poll (or long-poll) the signed snapshot" },
    certificate: { summary: "Renew the node certificate", status: 201, errors: ["enrollment.csr_invalid", "node.not_active"] },
    services: { summary: "Report the state of assigned services" },
    links: { summary: "Report reachability of peers", status: 202, errors: ["node.not_found"] },
    routeHealth: { summary: "Report health of relay paths", status: 202, errors: ["node.not_found"] },
    meshEndpoint: { summary: "Advertise the node's mesh endpoint" },
    entryEndpoint: { summary: "Publish where clients connect to this entry node" },
    revocations: { summary: "The latest signed revocation list" },
    sessionAssignments: { summary: "Remote sessions this node runs as adapter" },
    sessionEvent: {
      summary: "Adapter or entry event of a remote session",
      errors: ["adapter.session_not_assigned", "remote_session.not_found", "actor.event_rejected"],
    },
    sessionCredentials: {
      summary: "The resource credentials of a session, for its adapter node",
      errors: ["adapter.session_not_assigned", "adapter.no_credentials"],
    },
    redeemToken: {
      summary: "Redeem a client's data-plane token at an entry node",
      errors: [
        "data_plane.token_invalid",
        "data_plane.token_expired",
        "data_plane.token_replayed",
        "data_plane.wrong_entry",
        "data_plane.wrong_session",
        "data_plane.attachment_superseded",
        "remote_session.starting",
        "data_plane.entry_not_authorized",
        "remote_session.not_found",
      ],
    },
    vpnRenew: { summary: "Renew a VPN connection's lease under its epoch (refused: stop forwarding now)" },
    vpnRelease: { summary: "Hand a VPN connection's lease back after forwarding stopped (drain)" },
    vpnSecret: { summary: "The WireGuard configuration of a VPN connection, for its active owner only", errors: ["vpn.not_owner"] },
    join: {
      summary: "Ask to join a cluster with a join token",
      status: 202,
      errors: ["enrollment.refused", "enrollment.rate_limited", "enrollment.csr_invalid", "enrollment.key_reused"],
    },
    challenge: { summary: "A challenge to prove the enrolling key", errors: ["enrollment.not_found", "enrollment.rate_limited"] },
    bootstrap: { summary: "Prove the key; the bundle once approved", errors: ["enrollment.not_found", "enrollment.rate_limited"] },
    session: { summary: "Exchange a node proof for a node token", errors: ["node.auth_refused"] },
  }),
);
