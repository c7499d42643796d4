import { describe, expect, test } from "../../fixtures/test.ts";
import * as v from "valibot";
import { compareVersions, MANIFEST_TYPE, nodeMigrationProblem, pickArtifact, ReleaseManifest, transitionAllowed } from "./manifest.ts";

const artifact = (arch: "x64" | "arm64", target = `agent/2.0.0/a-${arch}.tar.gz`) => ({
  target,
  os: "linux" as const,
  arch,
  sha256: "a".repeat(64),
  length: 10,
});

function manifest(version: string, over: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return v.parse(ReleaseManifest, {
    typ: MANIFEST_TYPE,
    version,
    channel: "candidate",
    created_at: "2026-11-29T00:00:00.000Z",
    agent: [artifact("x64")],
    workloads: { "relay-node": [artifact("x64", "workloads/relay-node/2.0.0/r.tar.gz")] },
    compatibility: { min_agent_version: "1.0.0", control_plane_api: "v1" },
    migrations: [],
    preflight: [],
    rollback: { downgrade_allowed: true, min_rollback_version: "1.0.0" },
    ...over,
  });
}

describe("release manifest", () => {
  test("versions order numerically, not as text", () => {
    expect(compareVersions("2.10.0", "2.9.9")).toBeGreaterThan(0);
    expect(compareVersions("1.0.0", "1.0.0")).toBe(0);
    expect(compareVersions("0.9.0", "1.0.0")).toBeLessThan(0);
  });

  test("bad manifests are refused by the contract", () => {
    expect(v.safeParse(ReleaseManifest, { ...manifest("2.0.0"), version: "2.0" }).success).toBe(false);
    expect(v.safeParse(ReleaseManifest, { ...manifest("2.0.0"), agent: [] }).success).toBe(false);
    expect(v.safeParse(ReleaseManifest, { ...manifest("2.0.0"), agent: [artifact("x64", "../etc/passwd")] }).success).toBe(false);
    expect(v.safeParse(ReleaseManifest, { ...manifest("2.0.0"), extra: 1 }).success).toBe(false);
  });

  test("the artifact is picked by OS, architecture and role", () => {
    const m = manifest("2.0.0");
    expect(pickArtifact(m, { os: "linux", arch: "x64" })?.target).toBe("agent/2.0.0/a-x64.tar.gz");
    expect(pickArtifact(m, { os: "linux", arch: "arm64" })).toBeUndefined();
    expect(pickArtifact(m, { os: "linux", arch: "x64" }, "relay-node")?.target).toBe("workloads/relay-node/2.0.0/r.tar.gz");
    expect(pickArtifact(m, { os: "linux", arch: "x64" }, "entry-node")).toBeUndefined();
  });

  test("upgrades need the minimum agent version; downgrades need the newer release's consent", () => {
    expect(transitionAllowed("1.5.0", manifest("2.0.0"))).toEqual({ ok: true });
    expect(transitionAllowed("0.9.0", manifest("2.0.0")).ok).toBe(false);
    const newer = manifest("3.0.0", { rollback: { downgrade_allowed: true, min_rollback_version: "2.0.0" } });
    expect(transitionAllowed("3.0.0", manifest("2.0.0"), newer)).toEqual({ ok: true });
    expect(transitionAllowed("3.0.0", manifest("1.5.0"), newer).ok).toBe(false);
    expect(transitionAllowed("3.0.0", manifest("2.0.0")).ok).toBe(false);
    const oneWay = manifest("3.0.0", { rollback: { downgrade_allowed: false, min_rollback_version: "0.0.0" } });
    expect(transitionAllowed("3.0.0", manifest("2.0.0"), oneWay).ok).toBe(false);
  });

  test("the agent runs only its own store's migrations, ending at the release and starting at or below what runs", () => {
    const mig = {
      id: "store-v4",
      kind: "node_local_state" as const,
      from_version: "1.0.0",
      to_version: "2.0.0",
      preflight: [],
      backup_required: true,
      rollback: "restore_backup" as const,
      downgrade_possible: false,
    };
    expect(nodeMigrationProblem(manifest("2.0.0", { migrations: [mig] }), "1.0.0")).toBeUndefined();
    expect(nodeMigrationProblem(manifest("2.0.0", { migrations: [] }), "0.1.0")).toBeUndefined();
    expect(nodeMigrationProblem(manifest("2.0.0", { migrations: [{ ...mig, kind: "cache_format" }] }), "1.0.0")).toContain("node_local_state migrations only");
    expect(nodeMigrationProblem(manifest("2.0.0", { migrations: [{ ...mig, to_version: "3.0.0" }] }), "1.0.0")).toContain("ends at 3.0.0");
    expect(nodeMigrationProblem(manifest("2.0.0", { migrations: [mig] }), "0.9.0")).toContain("starts from 1.0.0");
  });
});
