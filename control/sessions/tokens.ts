/**
 * Data-plane tokens on the control plane: issued on start, attach, reattach
 * and takeover for one attachment (core/crypto/data-plane-token.ts signs
 * them with the installation's Ed25519 data-plane key), and redeemed by the
 * entry node the client connects to: verified exactly as the entry node
 * verifies offline, then the jti is spent in live state (`SET NX` with a TTL
 * to the token's expiry) so a second use is refused, then the attachment must
 * still be the session's controller. The redeeming node must still be an
 * active entry node for the token's organization: the token names it as an
 * entry, but its role may have been withdrawn (or the node disabled) since.
 */
import type { ControlDeps } from "../deps.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { entryRef, signDataPlaneToken, verifyDataPlaneToken } from "../../core/crypto/data-plane-token.ts";
import {
  DATA_PLANE_AUDIENCE,
  DATA_PLANE_ISSUER,
  DATA_PLANE_SKEW_SECONDS,
  DATA_PLANE_TOKEN_TYPE,
  type DataPlaneClaims,
  type SessionChannel,
} from "../../core/contracts/data-plane-token.ts";
import type { RemoteSessionContext } from "../../actors/remote-session/machine.ts";
import { getRemoteSession, servesAsEntry } from "../../sql/remote-sessions.ts";
import { ERROR_CATALOG, isErrorCode } from "../../core/error-catalog.ts";
import type { NodePrincipal } from "../nodes/node-auth.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "clock" | "identity">;

/** The channels a session's client may open: clipboard and file transfer only when the resource's policy allows a direction. */
export function sessionChannels(c: Pick<RemoteSessionContext, "clipboard" | "fileTransfer">): SessionChannel[] {
  return [
    "control",
    "input",
    "render",
    ...(c.clipboard !== "disabled" ? (["clipboard"] as const) : []),
    ...(c.fileTransfer !== "disabled" ? (["file_transfer"] as const) : []),
  ];
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
  channels: SessionChannel[];
}

export async function issueDataPlaneToken(
  deps: Deps,
  sessionId: string,
  c: RemoteSessionContext,
  attachment: { id: string; userId: string },
): Promise<IssuedToken> {
  const iat = Math.floor(deps.clock().getTime() / 1000);
  const exp = iat + deps.identity.dataPlaneTokenTtlSeconds;
  const channels = sessionChannels(c);
  const claims: DataPlaneClaims = {
    typ: DATA_PLANE_TOKEN_TYPE,
    iss: DATA_PLANE_ISSUER,
    aud: DATA_PLANE_AUDIENCE,
    jti: newId(),
    iat,
    exp,
    sid: sessionId,
    att: attachment.id,
    sub: attachment.userId,
    org: c.organizationId,
    rid: c.resourceId,
    proto: c.protocol,
    ent: await Promise.all((c.placement?.entryNodeIds ?? []).map((n) => entryRef(sessionId, n))),
    chn: channels,
    pol: { clipboard: c.clipboard, file_transfer: c.fileTransfer },
  };
  return { token: await signDataPlaneToken(deps.identity.dataPlaneKey, claims), expiresAt: new Date(exp * 1000).toISOString(), channels };
}

const jtiKey = (jti: string) => `dp:jti:${jti}`;

/** How soon an entry asks again while a session is starting. */
export const STARTING_RETRY_MS = 250;

/** An entry node redeems a client's token: everything the entry checks offline, plus single use and the attachment still in control. */
export async function redeemDataPlaneToken(deps: Deps, node: NodePrincipal, body: { token: string; session_id?: string }) {
  const now = deps.clock();
  const k = deps.identity.dataPlaneKey;
  const verdict = await verifyDataPlaneToken(
    body.token,
    [{ kid: k.kid, alg: "EdDSA", public_key: k.publicKeyB64 }],
    { entryNodeId: node.nodeId, sessionId: body.session_id, maxTtlSeconds: deps.identity.dataPlaneTokenTtlSeconds },
    now,
  );
  if (!verdict.ok) throw new DomainError(verdict.code, `data-plane token refused: ${verdict.code}`, verdict.details);
  const c = verdict.claims;
  if (!(await servesAsEntry(deps.db, node.nodeId, c.org)))
    throw new DomainError("data_plane.entry_not_authorized", "this node is no longer an entry node for the organization", { session_id: c.sid });
  // Not yet: the adapter is still connecting to the target. Nothing is spent; the entry asks again shortly.
  const early = await getRemoteSession(deps.db, c.sid);
  if (early?.state === "starting" && early.controllerAttachmentId === c.att) {
    throw new DomainError("remote_session.starting", "the session's adapter is still connecting", { session_id: c.sid, retry_after_ms: STARTING_RETRY_MS });
  }
  const ttlMs = (c.exp - Math.floor(now.getTime() / 1000) + DATA_PLANE_SKEW_SECONDS) * 1000;
  if (!(await deps.live.setIfAbsent(jtiKey(c.jti), node.nodeId, ttlMs)))
    throw new DomainError("data_plane.token_replayed", "data-plane token already used", { session_id: c.sid });
  const s = await getRemoteSession(deps.db, c.sid);
  if (s?.state === "failed" || s?.state === "terminated") {
    // Said plainly, with the adapter's reason when it could not start: the client shows why, not "superseded".
    const failure = s.failureCode && isErrorCode(s.failureCode) ? { failure_code: s.failureCode, failure_message: ERROR_CATALOG[s.failureCode].fallback } : {};
    throw new DomainError("remote_session.ended", `the session is ${s.state}`, { session_id: c.sid, state: s.state, ...failure });
  }
  if (!s?.adapterNodeId || !["starting", "active", "detached"].includes(s.state) || s.controllerAttachmentId !== c.att) {
    throw new DomainError("data_plane.attachment_superseded", "the attachment no longer controls the session", { session_id: c.sid, state: s?.state ?? null });
  }
  return {
    session_id: c.sid,
    attachment_id: c.att,
    user_id: c.sub,
    resource_id: c.rid,
    protocol: c.proto,
    channels: c.chn,
    policy: c.pol,
    adapter_node_id: s.adapterNodeId,
    expires_at: new Date(c.exp * 1000).toISOString(),
  };
}
