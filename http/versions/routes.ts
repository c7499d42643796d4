/**
 * /api/v1/versions: version storage (docs/updates.md, docs/api.md).
 *
 * - `repository/…`: the TUF repository, read-only and without a token, in the
 *   layout `scripts/release publish` writes, so agents (agent/updates/fetch.ts)
 *   and update caches (agent/updates/cache.ts) use it as they use any mirror:
 *   every byte is checked against their own trusted root.
 * - `blobs/:sha256` and `generations`: publishing (platform owner, step-up):
 *   upload each file, then the signed metadata; the control plane verifies the
 *   generation against the Product Root with tuf-js before storing anything.
 * - releases and the blocklist; per cluster: channels, node rings, rollouts and
 *   the update picture the console shows.
 */
import { type Context, Hono, type Next } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { readOctets, readsOctets } from "../middleware/json-body/index.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";
import { DomainError } from "../../core/errors.ts";
import {
  BlocklistBody,
  ChannelBody,
  ChannelParam,
  ClusterItemParam,
  ClusterParam,
  HaltRolloutBody,
  NodeUpdateSettingsBody,
  PublishGenerationBody,
  Sha256Param,
  StartRolloutBody,
  VersionParam,
} from "../../core/contracts/versions.ts";
import { clusterUpdates, release, releases, repositoryMetadata } from "../../control/versions/queries.ts";
import { beginRollout, blocklistRelease, commandRollout, pointChannel, publishGeneration, setNodeUpdate } from "../../control/versions/service.ts";

const PLATFORM = { kind: "platform" } as const;

/** Authorization before any input is read: a caller without the action learns nothing from a validation answer. */
const allow = (action: "cluster.read" | "update_policy.change") => async (c: Context<AppEnv>, next: Next) => {
  await requireAction(c, action, PLATFORM);
  await next();
};
const READ = allow("cluster.read");
const CHANGE = allow("update_policy.change");

/** Largest file one upload may carry (an agent artifact is about 12 MB). */
export const UPLOAD_LIMIT_BYTES = 256 * 1024 * 1024;

const TARGET = /^((?:[a-z0-9][a-z0-9._-]*\/)*)([0-9a-f]{64})\.([A-Za-z0-9][A-Za-z0-9._-]*)$/;

const rolloutWire = (r: Awaited<ReturnType<typeof beginRollout>>) => ({
  id: r.id,
  cluster_id: r.clusterId,
  channel: r.channel,
  from_version: r.fromVersion,
  to_version: r.toVersion,
  status: r.status,
  state: r.state,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

const notFound = (path: string): never => {
  throw new DomainError("versions.file_not_found", "version storage has no such file", { path });
};

/** The repository agents and update caches read: no token, metadata from PostgreSQL, files from the artifact store. */
export const versionRepositoryRoutes = new Hono<AppEnv>()
  .get("/metadata/:file", async (c) => {
    const body = await repositoryMetadata(c.get("deps"), c.req.param("file"));
    if (body === undefined) return notFound(c.req.param("file"));
    return c.body(body, 200, { "content-type": "application/json", "cache-control": "no-store" });
  })
  .get("/targets/:path{.+}", async (c) => {
    const path = c.req.param("path");
    const m = TARGET.exec(path);
    if (!m || path.includes("..")) return notFound(path);
    const bytes = await c.get("deps").fabric.versions.store.get(m[2] as string);
    if (!bytes) return notFound(path);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "cache-control": "public, max-age=31536000, immutable",
    });
  });

export const versionRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .put(
    "/blobs/:digest",
    CHANGE,
    valid("param", Sha256Param),
    readsOctets(async (c) => {
      const bytes = await readOctets(c, UPLOAD_LIMIT_BYTES);
      // The param validator above has checked it is a sha256.
      return c.json(await c.get("deps").fabric.versions.stage(c.req.param("digest") ?? "", bytes), 201);
    }),
  )
  .post("/generations", CHANGE, valid("json", PublishGenerationBody), async (c) => {
    return c.json(await publishGeneration(c.get("deps"), c.req.valid("json"), changeOf(c)), 201);
  })
  .get("/releases", READ, async (c) => {
    return c.json(await releases(c.get("deps")));
  })
  .get("/releases/:version", READ, valid("param", VersionParam), async (c) => {
    return c.json(await release(c.get("deps"), c.req.valid("param").version));
  })
  .post("/releases/:version/blocklist", CHANGE, valid("param", VersionParam), valid("json", BlocklistBody), async (c) => {
    return c.json(await blocklistRelease(c.get("deps"), c.req.valid("param").version, c.req.valid("json").reason, changeOf(c)));
  })
  .get("/clusters/:id", READ, valid("param", ClusterParam), async (c) => {
    return c.json(await clusterUpdates(c.get("deps"), c.req.valid("param").id));
  })
  .put("/clusters/:id/channels/:channel", CHANGE, valid("param", ChannelParam), valid("json", ChannelBody), async (c) => {
    const { id: clusterId, channel } = c.req.valid("param");
    const { version } = c.req.valid("json");
    const { previous } = await pointChannel(c.get("deps"), clusterId, channel, version, changeOf(c));
    return c.json({ channel, version, previous });
  })
  .put("/clusters/:id/nodes/:itemId", CHANGE, valid("param", ClusterItemParam), valid("json", NodeUpdateSettingsBody), async (c) => {
    const { id: clusterId, itemId: nodeId } = c.req.valid("param");
    const body = c.req.valid("json");
    await setNodeUpdate(c.get("deps"), clusterId, nodeId, body, changeOf(c));
    return c.json({ node_id: nodeId, ...body });
  })
  .post("/clusters/:id/rollouts", CHANGE, valid("param", ClusterParam), valid("json", StartRolloutBody), async (c) => {
    return c.json(rolloutWire(await beginRollout(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c))), 201);
  })
  .post("/clusters/:id/rollouts/:itemId/pause", CHANGE, valid("param", ClusterItemParam), async (c) => {
    const { id: clusterId, itemId: rolloutId } = c.req.valid("param");
    return c.json(rolloutWire(await commandRollout(c.get("deps"), clusterId, rolloutId, { type: "pause" }, changeOf(c))));
  })
  .post("/clusters/:id/rollouts/:itemId/resume", CHANGE, valid("param", ClusterItemParam), async (c) => {
    const { id: clusterId, itemId: rolloutId } = c.req.valid("param");
    return c.json(rolloutWire(await commandRollout(c.get("deps"), clusterId, rolloutId, { type: "resume" }, changeOf(c))));
  })
  .post("/clusters/:id/rollouts/:itemId/halt", CHANGE, valid("param", ClusterItemParam), valid("json", HaltRolloutBody), async (c) => {
    const { id: clusterId, itemId: rolloutId } = c.req.valid("param");
    return c.json(rolloutWire(await commandRollout(c.get("deps"), clusterId, rolloutId, { type: "halt", reason: c.req.valid("json").reason }, changeOf(c))));
  });

const PUBLISH_ERRORS = [
  ...DENIED,
  "versions.no_product_root",
  "versions.signature_invalid",
  "versions.replayed",
  "versions.expired",
  "versions.refused",
  "versions.publish_incomplete",
  "versions.release_changed",
  "versions.publish_conflict",
] as const;
const ROLLOUT_ERRORS = [...DENIED, "versions.rollout_not_found", "versions.rollout_state"] as const;

describeRoutes(versionRepositoryRoutes, {
  "GET /metadata/:file": {
    summary: "TUF metadata of the release repository (N.root.json, N.targets.json, N.snapshot.json, timestamp.json)",
    errors: ["versions.file_not_found"],
  },
  "GET /targets/:path{.+}": {
    summary: "A release file, content-addressed (DIR/SHA256.NAME)",
    errors: ["versions.file_not_found"],
    contentType: "application/octet-stream",
  },
});

describeRoutes(versionRoutes, {
  "PUT /blobs/:digest": {
    summary: "Upload a release file (application/octet-stream) before the generation that lists it",
    status: 201,
    errors: [...DENIED, "versions.blob_hash_mismatch"],
  },
  "POST /generations": { summary: "Publish a signed repository generation (verified against the Product Root)", status: 201, errors: PUBLISH_ERRORS },
  "GET /releases": { summary: "Published releases", errors: DENIED },
  "GET /releases/:version": { summary: "A release: manifest and files", errors: [...DENIED, "versions.release_not_found"] },
  "POST /releases/:version/blocklist": {
    summary: "Blocklist a release: never offered again; open rollouts to it halt",
    errors: [...DENIED, "versions.release_not_found", "versions.release_already_blocked"],
  },
  "GET /clusters/:id": {
    summary: "A cluster's channels, rollouts with progress per ring, and each node's update state",
    errors: [...DENIED, "cluster.not_found"],
  },
  "PUT /clusters/:id/channels/:channel": {
    summary: "Point a channel at a release at once",
    errors: [...DENIED, "cluster.not_found", "versions.release_not_found", "versions.release_blocked", "versions.rollout_open"],
  },
  "PUT /clusters/:id/nodes/:itemId": { summary: "A node's channel and rollout ring", errors: [...DENIED, "node.not_found"] },
  "POST /clusters/:id/rollouts": {
    summary: "Start a rollout of a channel to a release, ring by ring",
    status: 201,
    errors: [...DENIED, "cluster.not_found", "versions.release_not_found", "versions.release_blocked", "versions.rollout_open", "versions.same_version"],
  },
  "POST /clusters/:id/rollouts/:itemId/pause": { summary: "Pause a rollout", errors: ROLLOUT_ERRORS },
  "POST /clusters/:id/rollouts/:itemId/resume": { summary: "Resume a paused rollout", errors: ROLLOUT_ERRORS },
  "POST /clusters/:id/rollouts/:itemId/halt": { summary: "Halt a rollout: moved nodes are asked back to the previous version", errors: ROLLOUT_ERRORS },
});
