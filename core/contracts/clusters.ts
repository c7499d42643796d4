/**
 * Wire contract of the clusters API, shared by http/, the console and tests.
 * Objects are strict: an unknown field is an error, not silently dropped.
 */
import * as v from "valibot";
import { JsonObject, Limit, Text } from "./common.ts";

export const Slug = v.pipe(v.string(), v.regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "lowercase letters, digits and inner dashes, at most 63"));
const Name = Text(200, { min: 1 });
const Region = v.nullable(Text(64, { min: 1 }));
const Metadata = JsonObject({ maxBytes: 8192 });

export const NewClusterBody = v.strictObject({
  name: Name,
  slug: Slug,
  region: v.optional(Region),
  metadata: v.optional(Metadata),
});

export const UpdateClusterBody = v.pipe(
  v.strictObject({
    name: v.optional(Name),
    slug: v.optional(Slug),
    region: v.optional(Region),
    metadata: v.optional(Metadata),
  }),
  v.check((b) => Object.keys(b).length > 0, "name at least one field to change"),
);

export const SuspendClusterBody = v.strictObject({ reason: Text(500, { min: 1, multiline: true }) });

export const ArchiveClusterBody = v.strictObject({
  grace_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(30 * 24 * 3600))),
});

export const ClusterStatusValue = v.picklist(["active", "suspended", "archiving", "archived"]);

export const ListClustersQuery = v.strictObject({
  limit: Limit,
  after: v.optional(v.pipe(v.string(), v.uuid())),
  status: v.optional(ClusterStatusValue),
});

export const ClusterIdParam = v.strictObject({ id: v.pipe(v.string(), v.uuid("must be a cluster id")) });
