/**
 * Version storage's HTTP bodies (docs/api.md "Version storage"): a signed
 * repository generation to publish, channels, a node's channel and ring,
 * rollouts and their commands, the blocklist. The signed documents
 * themselves are checked by tuf-js against the Product Root, not here: this
 * only bounds their shape and size.
 */
import * as v from "valibot";
import { RELEASE_CHANNELS, ReleaseVersion } from "../updates/manifest.ts";
import { Text } from "./common.ts";

/** One TUF metadata document ({signed, signatures}); its content is verified by tuf-js. */
const TufDocument = v.looseObject({ signed: v.looseObject({ _type: v.string(), version: v.number() }), signatures: v.array(v.unknown()) });

export const PublishGenerationBody = v.strictObject({
  /** Root versions (N.root.json) the control plane may not have yet; the first publish carries 1.root.json. */
  roots: v.pipe(v.array(TufDocument), v.maxLength(64)),
  timestamp: TufDocument,
  snapshot: TufDocument,
  targets: TufDocument,
});

export const Sha256Param = v.strictObject({ digest: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be a lower-case sha256")) });
export const VersionParam = v.strictObject({ version: ReleaseVersion });
const Id = v.pipe(v.string(), v.uuid("must be an id"));
/** `id`: the cluster; `itemId`: a node or a rollout of it (the names every cluster route uses). */
export const ClusterParam = v.strictObject({ id: Id });
export const ChannelParam = v.strictObject({ id: Id, channel: v.picklist(RELEASE_CHANNELS) });
export const ClusterItemParam = v.strictObject({ id: Id, itemId: Id });

export const BlocklistBody = v.strictObject({ reason: Text(300, { min: 1 }) });
export const ChannelBody = v.strictObject({ version: ReleaseVersion });

const Ring = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,31}$/, "a ring is a lower-case name"));
export const NodeUpdateSettingsBody = v.strictObject({ channel: v.picklist(RELEASE_CHANNELS), ring: Ring });

const Share = v.pipe(v.number(), v.minValue(0.01), v.maxValue(1));
export const StartRolloutBody = v.strictObject({
  channel: v.picklist(RELEASE_CHANNELS),
  version: ReleaseVersion,
  /** Ring order: the first (a canary) gets the version first; nodes in no listed ring get it when the rollout completes. */
  rings: v.pipe(
    v.array(Ring),
    v.minLength(1),
    v.maxLength(8),
    v.check((r) => new Set(r).size === r.length, "rings are listed once each"),
  ),
  /** Share of a ring that must report `running` on the version before the next ring starts (default all). */
  advance_share: v.optional(Share, 1),
  /** Share of a reached ring reporting `rolled_back` or `failed` that halts the rollout (default: any one node). */
  halt_share: v.optional(Share, 0.01),
});
export const HaltRolloutBody = v.strictObject({ reason: Text(300, { min: 1 }) });
