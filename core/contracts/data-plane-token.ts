/**
 * Data-plane tokens: what the control plane hands a client when it attaches
 * to a remote session, and what an entry node checks before it lets the
 * client's transport through. A compact JWS signed with the installation's
 * Ed25519 data-plane key (`alg: EdDSA`); entry nodes hold only the public
 * key, from their signed snapshot (`entry.token_validation_keys`), and verify
 * offline (core/crypto/data-plane-token.ts). Short-lived (default 60 s) and
 * single use: the jti is spent once (control/sessions/tokens.ts).
 *
 * Nodes are named in a token only by `entryRef` (a hash of the session id
 * and the node id), so a client that decodes its token learns no node id.
 */
import * as v from "valibot";

export const DATA_PLANE_TOKEN_TYPE = "rap.data_plane.v1";
export const DATA_PLANE_ISSUER = "rap-control-plane";
export const DATA_PLANE_AUDIENCE = "rap-entry";
/** A token claiming a longer life than this is refused whatever its signature (the entry policy's `max_token_ttl_seconds` may be lower). */
export const DATA_PLANE_MAX_TTL_SECONDS = 300;
/** Clock skew an entry node tolerates on `iat`. */
export const DATA_PLANE_SKEW_SECONDS = 5;

/** The logical channels of a remote session (spec §7 "Logical Channels"); each maps onto the mesh channel class of the same name (control → fabric_control). */
export const SESSION_CHANNELS = ["control", "input", "render", "clipboard", "file_transfer"] as const;
export type SessionChannel = (typeof SESSION_CHANNELS)[number];

export const TRANSFER_MODES = ["disabled", "client_to_server", "server_to_client", "bidirectional"] as const;
export type TransferMode = (typeof TRANSFER_MODES)[number];

/** Remote-desktop quality profiles (spec target §8), lowest bandwidth first; `balanced` is the default. */
export const QUALITY_PROFILES = ["emergency_grayscale", "low_bandwidth", "text_priority", "balanced", "high_quality"] as const;
export type QualityProfile = (typeof QUALITY_PROFILES)[number];
/** Remote-desktop colour modes (spec target §8 "Color Modes"): full colour, 256, 64 or 16 colours, grayscale. */
export const COLOR_MODES = ["full", "256", "64", "16", "grayscale"] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

const Id = v.pipe(v.string(), v.uuid());
const Seconds = v.pipe(v.number(), v.integer(), v.minValue(0));

export const DataPlaneClaims = v.strictObject({
  typ: v.literal(DATA_PLANE_TOKEN_TYPE),
  iss: v.literal(DATA_PLANE_ISSUER),
  aud: v.literal(DATA_PLANE_AUDIENCE),
  /** Single-use id; spent on redemption. */
  jti: Id,
  iat: Seconds,
  exp: Seconds,
  /** Session, attachment, user (subject), organization and resource the token is bound to. */
  sid: Id,
  att: Id,
  sub: Id,
  org: Id,
  rid: Id,
  proto: v.picklist(["ssh", "rdp", "vnc"]),
  /** Allowed entry nodes, as `entryRef(sid, node_id)`. */
  ent: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22}$/))), v.minLength(1), v.maxLength(8)),
  /** Channels the client may open; clipboard and file_transfer only when the resource's policy allows a direction. */
  chn: v.pipe(v.array(v.picklist(SESSION_CHANNELS)), v.minLength(1)),
  /** The resource's transfer policy, which the adapter enforces again. */
  pol: v.strictObject({ clipboard: v.picklist(TRANSFER_MODES), file_transfer: v.picklist(TRANSFER_MODES) }),
});
export type DataPlaneClaims = v.InferOutput<typeof DataPlaneClaims>;

/** A key an entry node accepts, as its snapshot carries it: Ed25519 public key, raw 32 bytes in base64. */
export interface DataPlaneKey {
  kid: string;
  alg: "EdDSA";
  public_key: string;
}

/** What the verifier expects: the entry node that checks (its own id) and, when the client named one, the session. */
export interface DataPlaneExpect {
  entryNodeId: string;
  sessionId?: string;
  maxTtlSeconds?: number;
}

/** The codes a refused token produces; each is in core/error-catalog.ts. */
export const DATA_PLANE_REFUSALS = [
  "data_plane.token_invalid",
  "data_plane.token_expired",
  "data_plane.token_replayed",
  "data_plane.wrong_entry",
  "data_plane.wrong_session",
  "data_plane.attachment_superseded",
  "data_plane.entry_not_authorized",
] as const;
export type DataPlaneRefusal = (typeof DATA_PLANE_REFUSALS)[number];

export type DataPlaneVerdict = { ok: true; claims: DataPlaneClaims } | { ok: false; code: DataPlaneRefusal; details: Record<string, unknown> };

/** The spec's structured error event (backend-foundation "WebSocket Messaging"): the HTTP error envelope's fields, sent on a session's control channel. */
export const ErrorEvent = v.object({
  code: v.string(),
  message_key: v.string(),
  fallback_message: v.string(),
  details: v.record(v.string(), v.unknown()),
  trace_id: v.string(),
});
export type ErrorEvent = v.InferOutput<typeof ErrorEvent>;
