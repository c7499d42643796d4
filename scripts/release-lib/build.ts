/**
 * Builds release artifacts: the agent for one OS/architecture as a
 * reproducible `.tar.gz` (the bundled agent, its native addons and a start
 * script), workload tarballs from directories, and the unsigned release
 * manifest that lists them with their hashes. Signing is publish.ts's job.
 *
 * Why a tarball and not `bun build --compile`: the agent loads two native
 * addons (the mesh and libsql) by computed path, which a compiled executable
 * cannot embed, and a compiled file would carry a 90 MB runtime in every
 * release; the runtime is a host package instead (docs/updates.md).
 */
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import * as v from "valibot";
import { readBytes, spawn } from "../../core/runtime/index.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";
import { type ArtifactRef, MANIFEST_TYPE, ReleaseManifest, type ReleaseChannel } from "../../core/updates/manifest.ts";
import type { NodeRole } from "../../core/contracts/roles.ts";

export const REPO = resolve(import.meta.dirname, "../..");
const BUN = join(REPO, "node_modules/.bin/bun");

/** What every artifact says about itself (artifact.json at its top), checked again after unpacking. */
export const ARTIFACT_TYPE = "rap.artifact.v1";
export const ArtifactInfo = v.strictObject({
  typ: v.literal(ARTIFACT_TYPE),
  name: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,62}$/)),
  version: v.string(),
  os: v.string(),
  arch: v.string(),
  /** The file to run, relative to the unpacked artifact. */
  entry: v.pipe(v.string(), v.regex(/^(?!.*\.\.)[A-Za-z0-9._/-]+$/)),
});
export type ArtifactInfo = v.InferOutput<typeof ArtifactInfo>;

/** The native addon packages the bundled agent requires at run time, by architecture. */
const LIBSQL_NATIVE: Record<string, string> = { x64: "@libsql/linux-x64-gnu", arm64: "@libsql/linux-arm64-gnu" };

export class BuildError extends Error {}

async function run(argv: string[], cwd?: string): Promise<Uint8Array> {
  const child = spawn(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).arrayBuffer(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new BuildError(`${argv[0]} ${argv[1]} failed (${code}): ${err.trim().slice(0, 400)}`);
  return new Uint8Array(out);
}

/** A reproducible gzip'd tar of `dir`: sorted names, zero times and owners, so one tree gives one hash. */
export async function tarGz(dir: string): Promise<Uint8Array> {
  const tar = await run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-", "-C", dir, "."]);
  return gzipSync(tar, { level: 9 });
}

/** Unpacks a tarball into `dir` (which must exist). */
export async function untarGz(file: string, dir: string): Promise<void> {
  await run(["tar", "--no-same-owner", "-xzf", file, "-C", dir]);
}

export interface BuiltFile {
  target: string;
  file: string;
  os: string;
  arch: string;
  sha256: string;
  length: number;
}

async function hashFile(file: string): Promise<{ sha256: string; length: number }> {
  const bytes = await readBytes(file);
  return { sha256: await sha256Hex(bytes), length: bytes.length };
}

/**
 * The agent artifact for linux/`arch`. Only the host's own architecture can
 * be built here (the native addons are built for it); another is refused.
 * `entrySource` replaces agent/main.ts (tests build a deliberately broken agent).
 */
export async function buildAgentArtifact(opts: { version: string; arch: string; outDir: string; entrySource?: string }): Promise<BuiltFile> {
  const hostArch = process.arch === "x64" ? "x64" : process.arch === "arm64" ? "arm64" : process.arch;
  if (opts.arch !== hostArch) throw new BuildError(`this machine builds linux-${hostArch} only (the native addons are built for it), not linux-${opts.arch}`);
  const stage = await mkdtemp(join(tmpdir(), "rap-release-"));
  try {
    const lib = join(stage, "lib");
    await mkdir(join(stage, "bin"), { recursive: true });
    await mkdir(lib, { recursive: true });
    await run([
      BUN,
      "build",
      opts.entrySource ?? join(REPO, "agent/main.ts"),
      "--target=bun",
      "--outfile",
      join(lib, "main.js"),
      "--define",
      `process.env.RAP_AGENT_BUILD_VERSION=${JSON.stringify(opts.version)}`,
    ]);
    await copyFile(join(REPO, "crates/fabric-quic/fabric-quic.node"), join(lib, "fabric-quic.node")).catch(() => {
      throw new BuildError("crates/fabric-quic/fabric-quic.node is not built; run scripts/test or scripts/start once (they build crates/)");
    });
    const native = LIBSQL_NATIVE[opts.arch] as string;
    const nativeDir = join(lib, "node_modules", native);
    await mkdir(nativeDir, { recursive: true });
    for (const f of ["package.json", "index.node"]) await copyFile(join(REPO, "node_modules", native, f), join(nativeDir, f));
    // The start script: the host's Bun (RAP_BUN, else the one installed with the agent package, else PATH) runs the bundle.
    const start = `#!/bin/sh
# rap-node-agent ${opts.version} (linux-${opts.arch}); built by scripts/release.
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "\${RAP_BUN:-bun}" "$here/lib/main.js" "$@"
`;
    await writeFile(join(stage, "bin/rap-node-agent"), start);
    await chmod(join(stage, "bin/rap-node-agent"), 0o755);
    const info: ArtifactInfo = { typ: ARTIFACT_TYPE, name: "rap-node-agent", version: opts.version, os: "linux", arch: opts.arch, entry: "bin/rap-node-agent" };
    await writeFile(join(stage, "artifact.json"), `${JSON.stringify(info, null, 2)}\n`);
    const name = `rap-node-agent-${opts.version}-linux-${opts.arch}.tar.gz`;
    const file = join(opts.outDir, name);
    await mkdir(opts.outDir, { recursive: true });
    await writeFile(file, await tarGz(stage));
    return { target: `agent/${opts.version}/${name}`, file, os: "linux", arch: opts.arch, ...(await hashFile(file)) };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * A workload artifact: the directory `dir` (which must hold an executable
 * `run` and may hold a `health` script; docs/updates.md) packed as one tarball.
 */
export async function buildWorkloadArtifact(opts: { version: string; role: NodeRole; arch: string; dir: string; outDir: string }): Promise<BuiltFile> {
  const names = await readdir(opts.dir).catch(() => {
    throw new BuildError(`cannot read workload directory ${opts.dir}`);
  });
  if (!names.includes("run")) throw new BuildError(`${opts.dir} has no "run" file (the workload's entry)`);
  const stage = await mkdtemp(join(tmpdir(), "rap-release-"));
  try {
    await run(["cp", "-a", `${opts.dir}/.`, stage]);
    const info: ArtifactInfo = { typ: ARTIFACT_TYPE, name: `workload-${opts.role}`, version: opts.version, os: "linux", arch: opts.arch, entry: "run" };
    await writeFile(join(stage, "artifact.json"), `${JSON.stringify(info, null, 2)}\n`);
    const name = `${opts.role}-${opts.version}-linux-${opts.arch}.tar.gz`;
    const file = join(opts.outDir, name);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, await tarGz(stage));
    return { target: `workloads/${opts.role}/${opts.version}/${name}`, file, os: "linux", arch: opts.arch, ...(await hashFile(file)) };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

const ref = (b: BuiltFile): ArtifactRef => ({ target: b.target, os: b.os as "linux", arch: b.arch as "x64", sha256: b.sha256, length: b.length });

/** The release manifest for built files; validated against the contract before it is written. */
export function releaseManifest(opts: {
  version: string;
  channel: ReleaseChannel;
  now: Date;
  agent: BuiltFile[];
  workloads: Partial<Record<NodeRole, BuiltFile[]>>;
  minAgentVersion?: string;
  downgradeAllowed?: boolean;
  minRollbackVersion?: string;
  migrations?: ReleaseManifest["migrations"];
  preflight?: string[];
}): ReleaseManifest {
  const r = v.safeParse(ReleaseManifest, {
    typ: MANIFEST_TYPE,
    version: opts.version,
    channel: opts.channel,
    created_at: opts.now.toISOString(),
    agent: opts.agent.map(ref),
    workloads: Object.fromEntries(Object.entries(opts.workloads).map(([role, list]) => [role, (list ?? []).map(ref)])),
    compatibility: { min_agent_version: opts.minAgentVersion ?? "0.0.0", control_plane_api: "v1" },
    migrations: opts.migrations ?? [],
    preflight: opts.preflight ?? ["control plane reachable over /api/v1", "disk has room for two agent slots"],
    rollback: { downgrade_allowed: opts.downgradeAllowed ?? true, min_rollback_version: opts.minRollbackVersion ?? "0.0.0" },
  });
  if (!r.success) throw new BuildError(`invalid release manifest: ${r.issues.map((i) => `${v.getDotPath(i) ?? ""}: ${i.message}`).join("; ")}`);
  return r.output;
}
