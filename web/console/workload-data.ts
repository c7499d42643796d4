/** GET /clusters/{id}/workloads: a cluster's role assignments with the state of the service each asks for. */
export interface Workload {
  assignment_id: string;
  node_id: string;
  node_name: string;
  node_health: string;
  role: string;
  organization_id: string | null;
  policy: Record<string, unknown>;
  assigned_by_user_id: string;
  assigned_at: string;
  service: { desired_state: string; reported_state: string | null; version: string | null; last_report_at: string | null } | null;
}
