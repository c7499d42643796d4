/**
 * Pushes a repository directory's current generation to the control plane's
 * version storage (`scripts/release push`, docs/updates.md): every target
 * file (PUT /api/v1/versions/blobs/SHA256, content-addressed, so a file it
 * already holds costs one upload at most), then the signed metadata (POST
 * /api/v1/versions/generations): the root versions, timestamp, and the
 * snapshot and targets the timestamp names. The control plane verifies the
 * whole generation against the Product Root with tuf-js before it keeps it.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { currentGeneration, targetStoragePath } from "./publish.ts";

export class PushError extends Error {}

/** Sends one request to the control plane: `path` is below its origin. */
export type ApiCall = (method: string, path: string, body: { json: unknown } | { bytes: Uint8Array }) => Promise<Response>;

/** The generation's documents as the control plane takes them. */
export async function generationBody(repoDir: string): Promise<{ roots: unknown[]; timestamp: unknown; snapshot: unknown; targets: unknown }> {
  const gen = await currentGeneration(repoDir);
  if (!gen.versions) throw new PushError(`${repoDir} has no published generation`);
  const read = async (name: string) => JSON.parse(await readFile(join(repoDir, "metadata", name), "utf8")) as unknown;
  const rootFiles = (await readdir(join(repoDir, "metadata")))
    .filter((f) => /^\d+\.root\.json$/.test(f))
    .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  return {
    roots: await Promise.all(rootFiles.map(read)),
    timestamp: await read("timestamp.json"),
    snapshot: await read(`${gen.versions.snapshot}.snapshot.json`),
    targets: await read(`${gen.versions.targets}.targets.json`),
  };
}

async function answer(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  if (!res.ok) throw new PushError(`${what}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Uploads every target of the current generation, then the generation; returns the control plane's answer. */
export async function pushRepository(repoDir: string, call: ApiCall): Promise<Record<string, unknown>> {
  const gen = await currentGeneration(repoDir);
  if (!gen.versions) throw new PushError(`${repoDir} has no published generation`);
  for (const t of gen.targets) {
    const sha = t.hashes.sha256 as string;
    const file = join(repoDir, "targets", targetStoragePath(t.path, sha));
    const bytes = new Uint8Array(await readFile(file).catch(() => Promise.reject(new PushError(`${relative(repoDir, file)} is missing`))));
    await answer(await call("PUT", `/api/v1/versions/blobs/${sha}`, { bytes }), `uploading ${t.path}`);
  }
  return answer(await call("POST", "/api/v1/versions/generations", { json: await generationBody(repoDir) }), "publishing the generation");
}

/** An ApiCall over HTTP with a bearer access token (a platform owner's, after step-up). */
export function httpCall(baseUrl: string, token: string): ApiCall {
  const base = baseUrl.replace(/\/+$/, "");
  return (method, path, body) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "json" in body ? "application/json" : "application/octet-stream",
      },
      body: "json" in body ? JSON.stringify(body.json) : (body.bytes as Uint8Array<ArrayBuffer>),
    }).catch((err: unknown) => {
      throw new PushError(`${base} did not answer: ${err instanceof Error ? err.message : String(err)}`);
    });
}
