/**
 * Prints the Deno permission flags of one program, one per line, for
 * scripts/start --runtime deno (core/runtime/deno-permissions.ts has the
 * sets and why). The data folder is the one the program will use: DATA_DIR,
 * else its default.
 *
 *   deno run --allow-env --allow-read scripts/lib/deno-permissions.ts control-plane|dev-cluster
 */
import { DEV_CLUSTER_DATA_DIR } from "../../agent/dev-cluster-dir.ts";
import { controlPlanePermissions, devClusterPermissions } from "../../core/runtime/deno-permissions.ts";

const kind = process.argv[2];
const flags =
  kind === "control-plane"
    ? controlPlanePermissions(process.env.DATA_DIR || ".data")
    : kind === "dev-cluster"
      ? devClusterPermissions(process.env.DATA_DIR || DEV_CLUSTER_DATA_DIR)
      : null;
if (!flags) {
  console.error("usage: deno-permissions.ts control-plane|dev-cluster");
  process.exit(2);
}
console.log(flags.join("\n"));
