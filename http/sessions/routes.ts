/**
 * /api/v1/remote-sessions: start a remote session on a resource, list and
 * read sessions, attach (or reattach), take over, detach and terminate.
 * Every command authorizes against the session's organization first: a
 * member acts on their own sessions (`session.connect`); org owners and
 * admins, and platform roles per core/authz.ts, on any of the organization
 * (`session.manage_any`, reads `session.read_any`). A session the caller may
 * not see answers 404. Answers name the egress pool and the entry point by
 * name, never a node, address or path.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { canRead, requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { page } from "../page.ts";
import { ListRemoteSessionsQuery, RemoteSessionParam, StartSessionBody } from "../../core/contracts/remote-sessions.ts";
import { DATA_PLANE_TOKEN_TYPE } from "../../core/contracts/data-plane-token.ts";
import { readableOrgs } from "../../core/authz.ts";
import { DomainError } from "../../core/errors.ts";
import { resource } from "../../control/resources/queries.ts";
import { remoteSession, remoteSessions, sessionAttachments, type AttachmentRow, type RemoteSessionRow } from "../../control/sessions/queries.ts";
import {
  attachSession,
  detachSession,
  startSession,
  takeoverSession,
  terminateSession,
  type AttachOffer,
  type Caller,
} from "../../control/sessions/service.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";
import { ERROR_CATALOG, isErrorCode } from "../../core/error-catalog.ts";

/** The organization-facing view of a session: no node ids, addresses or paths. */
export const sessionWire = (s: RemoteSessionRow, me: Caller, attachments?: AttachmentRow[]) => ({
  id: s.id,
  organization_id: s.organizationId,
  resource_id: s.resourceId,
  resource_name: s.resourceName,
  protocol: s.protocol,
  egress_pool: s.egressPool,
  user_id: s.userId,
  state: s.state,
  entry: s.entryName ? { name: s.entryName } : null,
  controller_attachment_id: s.controllerAttachmentId,
  failure_reason: s.failureReason,
  failure_code: s.failureCode,
  failure_message: s.failureCode && isErrorCode(s.failureCode) ? ERROR_CATALOG[s.failureCode].fallback : null,
  end_reason: s.endReason,
  requested_at: s.requestedAt,
  started_at: s.startedAt,
  detached_at: s.detachedAt,
  ended_at: s.endedAt,
  updated_at: s.updatedAt,
  ...(attachments
    ? {
        attachments: attachments.map((a) => ({
          id: a.id,
          user_id: a.userId,
          role: a.role,
          state: a.state,
          this_client: a.userId === me.userId && a.clientId === me.clientId,
          attached_at: a.attachedAt,
          ended_at: a.endedAt,
          end_reason: a.endReason,
          taken_over_by: a.takenOverBy,
        })),
      }
    : {}),
});

/** What a client needs to connect: `entry.urls` to try in order (WebTransport, or `wss:` on the same host and port), and the certificate hashes to pin. */
const offerWire = (o: AttachOffer) => ({
  attachment_id: o.attachmentId,
  token: o.token.token,
  token_type: DATA_PLANE_TOKEN_TYPE,
  expires_at: o.token.expiresAt,
  channels: o.token.channels,
  entry: { name: o.entryName, urls: o.entryUrls, certificate_hashes: o.certificateHashes },
});

const callerOf = (c: Context<AppEnv>): Caller => {
  const a = c.get("auth");
  return { userId: a.user.id, clientId: a.session.id };
};

/** A session the caller may see: their own in an organization they belong to, or any where they may read every session. */
async function visibleSession(c: Context<AppEnv>, id: string): Promise<RemoteSessionRow> {
  const s = await remoteSession(c.get("deps"), id);
  const mine = s && s.userId === callerOf(c).userId && canRead(c, s.organizationId, "organization.read");
  if (!s || !(mine || canRead(c, s.organizationId, "session.read_any"))) throw new DomainError("remote_session.not_found", "no such session", { id });
  return s;
}

/** Own sessions need `session.connect`; anyone else's `session.manage_any`. */
async function requireSessionAction(c: Context<AppEnv>, s: RemoteSessionRow, ownOnly = false): Promise<void> {
  const scope = { kind: "organization" as const, orgId: s.organizationId };
  if (s.userId === callerOf(c).userId) return requireAction(c, "session.connect", scope);
  if (ownOnly) throw new DomainError("auth.forbidden", "only the session's user may do that", { action: "session.connect" });
  return requireAction(c, "session.manage_any", scope);
}

export const sessionRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .post("/", valid("json", StartSessionBody), async (c) => {
    const r = await resource(c.get("deps"), c.req.valid("json").resource_id);
    if (!r || !canRead(c, r.organizationId, "resource.read"))
      throw new DomainError("resource.not_found", "no such resource", { id: c.req.valid("json").resource_id });
    await requireAction(c, "session.connect", { kind: "organization", orgId: r.organizationId });
    const me = callerOf(c);
    const { sessionId, offer } = await startSession(c.get("deps"), me, r, changeOf(c));
    const s = (await remoteSession(c.get("deps"), sessionId))!;
    return c.json({ session: sessionWire(s, me), attach: offerWire(offer) }, 201);
  })
  .get("/", valid("query", ListRemoteSessionsQuery), async (c) => {
    const q = c.req.valid("query");
    const me = callerOf(c);
    if (q.all === "true") {
      if (!q.organization_id || !canRead(c, q.organization_id, "organization.read"))
        throw new DomainError("organization.not_found", "no such organization", { id: q.organization_id ?? null });
      await requireAction(c, "session.read_any", { kind: "organization", orgId: q.organization_id });
    }
    const readable = readableOrgs(c.get("auth").subject);
    let orgIds = readable;
    if (q.organization_id) orgIds = readable === null || readable.includes(q.organization_id) ? [q.organization_id] : [];
    const rows = await remoteSessions(c.get("deps"), {
      orgIds,
      userId: q.all === "true" ? undefined : me.userId,
      states: q.state ? [q.state] : undefined,
      after: q.after,
      limit: q.limit + 1,
    });
    return c.json(
      page(
        rows.map((s) => sessionWire(s, me)),
        q.limit,
        (s) => s.id,
      ),
    );
  })
  .get("/:id", valid("param", RemoteSessionParam), async (c) => {
    const s = await visibleSession(c, c.req.valid("param").id);
    return c.json(sessionWire(s, callerOf(c), await sessionAttachments(c.get("deps"), s.id)));
  })
  .post("/:id/attach", valid("param", RemoteSessionParam), async (c) => {
    const s = await visibleSession(c, c.req.valid("param").id);
    await requireSessionAction(c, s, true);
    return c.json(offerWire(await attachSession(c.get("deps"), callerOf(c), s, changeOf(c))));
  })
  .post("/:id/takeover", valid("param", RemoteSessionParam), async (c) => {
    const s = await visibleSession(c, c.req.valid("param").id);
    await requireSessionAction(c, s);
    return c.json(offerWire(await takeoverSession(c.get("deps"), callerOf(c), s, changeOf(c))));
  })
  .post("/:id/detach", valid("param", RemoteSessionParam), async (c) => {
    const s = await visibleSession(c, c.req.valid("param").id);
    await requireSessionAction(c, s, true);
    await detachSession(c.get("deps"), callerOf(c), s, changeOf(c));
    return c.json(sessionWire((await remoteSession(c.get("deps"), s.id))!, callerOf(c)));
  })
  .post("/:id/terminate", valid("param", RemoteSessionParam), async (c) => {
    const s = await visibleSession(c, c.req.valid("param").id);
    await requireSessionAction(c, s);
    await terminateSession(c.get("deps"), s, s.userId === callerOf(c).userId ? "user" : "admin", changeOf(c));
    return c.json(sessionWire((await remoteSession(c.get("deps"), s.id))!, callerOf(c)));
  });

describeRoutes(sessionRoutes, {
  "POST /": {
    summary: "Start a remote session",
    status: 201,
    errors: [...DENIED, "resource.not_found", "remote_session.no_adapter_node", "remote_session.no_entry_node"],
  },
  "GET /": { summary: "My remote sessions, or an organization's with all=true", errors: [...DENIED, "organization.not_found"] },
  "GET /:id": { summary: "A remote session", errors: ["remote_session.not_found"] },
  "POST /:id/attach": {
    summary: "Attach to a session (an entry point and a token)",
    errors: [...DENIED, "remote_session.not_found", "remote_session.attached_elsewhere", "remote_session.no_entry_node", "actor.event_rejected"],
  },
  "POST /:id/takeover": {
    summary: "Take a session over from another device",
    errors: [...DENIED, "remote_session.not_found", "remote_session.no_entry_node", "actor.event_rejected"],
  },
  "POST /:id/detach": {
    summary: "Detach from a session (it keeps running)",
    errors: [...DENIED, "remote_session.not_found", "remote_session.not_attached", "actor.event_rejected"],
  },
  "POST /:id/terminate": { summary: "End a session", errors: [...DENIED, "remote_session.not_found", "actor.event_rejected"] },
});
