/** The shape of GET /platform/overview, shared by the pages that read it. */
import { api } from "../lib/api.ts";

export interface ClusterStats {
  id: string;
  name: string;
  slug: string;
  status: string;
  region: string | null;
  partition_state: string;
  nodes: { total: number; by_status: Record<string, number>; by_health: { healthy: number; stale: number; offline: number } };
  pending_join_requests: number;
  roles: Record<string, number>;
  missing_roles: string[];
  workloads: { desired_running: number; running: number; failed: number };
  certificates: { active: number; expiring_soon: number; next_expiry: string | null };
}
export interface Risk {
  kind: string;
  severity: "warning" | "critical";
  cluster_id: string;
  cluster_name: string;
  message: string;
}
export interface Overview {
  generated_at: string;
  clusters: { total: number; by_status: Record<string, number> };
  nodes: { total: number; by_status: Record<string, number>; by_health: { healthy: number; stale: number; offline: number } };
  pending_join_requests: number;
  role_coverage_gaps: { cluster_id: string; cluster_name: string; missing_roles: string[] }[];
  workloads: { desired_running: number; running: number; failed: number };
  risky_states: Risk[];
  per_cluster: ClusterStats[];
}

export const loadOverview = () => api.get<Overview>("/platform/overview");
