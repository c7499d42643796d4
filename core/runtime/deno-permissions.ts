/**
 * Deno permission sets for our programs, instead of `--allow-all`. Each set
 * is the least that program was seen to need (docs/operations.md, "Running
 * on Deno"); Bun has no permissions and ignores them (scriptArgv).
 *
 * Shared by every set: environment variables (configuration is environment),
 * the network (a control plane URL, PostgreSQL, Redis, peers anywhere), and
 * reading the repository (modules, migrations, web/ assets, node_modules).
 */
import { join, resolve } from "node:path";

/** The repository root (this file is core/runtime/deno-permissions.ts). */
const ROOT = join(import.meta.dirname, "../..");

const list = (flag: string, paths: string[]) => `${flag}=${paths.map((p) => resolve(p)).join(",")}`;

/**
 * The control plane (http/main.ts): reads and writes DATA_DIR (PGlite, keys);
 * runs esbuild's binary (console bundles); loads the argon2 napi addon; asks
 * the OS for its hostname, memory and interfaces (PGlite, metrics).
 */
export function controlPlanePermissions(dataDir: string): string[] {
  return [
    "--allow-env",
    "--allow-net",
    "--allow-sys",
    list("--allow-read", [ROOT, dataDir]),
    list("--allow-write", [dataDir]),
    list("--allow-ffi", [join(ROOT, "node_modules")]),
    list("--allow-run", [join(ROOT, "node_modules/@esbuild/linux-x64/bin/esbuild")]),
  ];
}

/**
 * rap-node-agent (agent/main.ts): reads and writes its state folder; loads
 * the napi addons under crates/ (QUIC mesh, SSH and RDP adapters) and
 * libsql's (its state store, agent/store.ts); runs the
 * workloads the control plane assigns (any command, so `--allow-run`
 * without a list); reads host facts (hostname, CPUs, interfaces).
 */
export function agentPermissions(stateDir: string): string[] {
  return [
    "--allow-env",
    "--allow-net",
    "--allow-sys",
    "--allow-run",
    // Not /dev/net/tun: Deno lets only --allow-all touch /dev, /proc and /sys, so the agent
    // reports no TUN device under this set (agent/host-facts.ts).
    list("--allow-read", [ROOT, stateDir]),
    list("--allow-write", [stateDir]),
    list("--allow-ffi", [join(ROOT, "crates"), join(ROOT, "node_modules/@libsql")]),
  ];
}

/**
 * scripts/dev-cluster.ts (`scripts/start --agents` on Deno): reads and writes
 * its DATA_DIR (the dev owner, the agents' state folders), runs Deno itself
 * (the control plane and the agents, each with its own set above), and finds
 * free UDP ports for the agents' mesh.
 */
export function devClusterPermissions(dataDir: string): string[] {
  return ["--allow-env", "--allow-net", list("--allow-read", [ROOT, dataDir]), list("--allow-write", [dataDir]), list("--allow-run", [process.execPath])];
}
