/**
 * Where `scripts/start --agents` keeps its data when DATA_DIR is unset: its
 * own directory, apart from the plain control plane's `.data/`. Shared with
 * `rap-node-agent status`, which finds the dev agents there without flags.
 */
export const DEV_CLUSTER_DATA_DIR = ".data/dev-cluster";
