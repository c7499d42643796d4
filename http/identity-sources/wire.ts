/** The JSON of an identity source for its admins: settings and mappings, never the secret (only whether one is set). */
import type { SourceView } from "../../control/identity-sources/queries.ts";

export const sourceWire = ({ source: s, mappings }: SourceView) => ({
  id: s.id,
  organization_id: s.organizationId,
  kind: s.kind,
  name: s.name,
  enabled: s.enabled,
  config: s.config,
  has_secret: s.hasSecret,
  mappings: mappings.map((m) => ({ group: m.externalGroup, role: m.role })),
  last_sync: s.lastSync && { at: s.lastSync.at, outcome: s.lastSync.outcome, details: s.lastSync.details },
  created_at: s.createdAt,
  updated_at: s.updatedAt,
});
