/**
 * The `update-cache` role: a mirror of a release repository for nearby
 * agents. It serves metadata as the upstream (version storage) has it — a
 * client verifies every byte of it against its own trusted root, so a cache
 * cannot forge, approve or invent a version — and serves a target only after
 * verifying it itself: listed in the signed targets it fetched through TUF,
 * with the signed length and hash. What it verified it keeps on disk,
 * content-addressed, and serves again without asking upstream.
 */
import { access, copyFile, mkdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Updater } from "tuf-js";
import { type RunningServer, serve } from "../../core/runtime/index.ts";

export interface UpdateCacheOptions {
  upstream: string;
  trustedRootFile: string;
  dir: string;
  hostname: string;
  port: number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

const METADATA = /^\/metadata\/((?:\d+\.)?(?:root|targets|snapshot|timestamp)\.json)$/;
const TARGET = /^\/targets\/((?:[a-z0-9][a-z0-9._-]*\/)*)([0-9a-f]{64})\.([A-Za-z0-9][A-Za-z0-9._-]*)$/;

export class UpdateCache {
  private constructor(
    private readonly o: UpdateCacheOptions,
    readonly server: RunningServer,
  ) {}

  get url(): string {
    return `http://${this.o.hostname}:${this.server.port}`;
  }

  static async start(o: UpdateCacheOptions): Promise<UpdateCache> {
    const upstream = o.upstream.replace(/\/+$/, "");
    await mkdir(join(o.dir, "metadata"), { recursive: true, mode: 0o700 });
    await mkdir(join(o.dir, "targets"), { recursive: true, mode: 0o700 });
    const seeded = await access(join(o.dir, "metadata/root.json")).then(
      () => true,
      () => false,
    );
    if (!seeded) await copyFile(o.trustedRootFile, join(o.dir, "metadata/root.json"));
    let cache: UpdateCache;
    const server = await serve({
      hostname: o.hostname,
      port: o.port,
      fetch: (req) => cache.handle(req, upstream),
    });
    cache = new UpdateCache(o, server);
    o.log("update cache serving", { url: cache.url, upstream });
    return cache;
  }

  async stop(): Promise<void> {
    await this.server.stop({ force: true });
  }

  private async handle(req: Request, upstream: string): Promise<Response> {
    if (req.method !== "GET") return new Response("method not allowed", { status: 405 });
    const path = new URL(req.url).pathname;
    const meta = METADATA.exec(path);
    if (meta) {
      // Passed through unchanged: signed by the Product Root or the release key, checked by every client.
      const r = await fetch(`${upstream}/metadata/${meta[1]}`).catch(() => undefined);
      if (!r) return new Response("upstream unreachable", { status: 502 });
      return new Response(r.body, { status: r.status });
    }
    const t = TARGET.exec(path);
    if (!t) return new Response("not found", { status: 404 });
    const [, dir = "", sha, name] = t as unknown as [string, string, string, string];
    const logical = `${dir}${name}`;
    try {
      const file = await this.verified(upstream, logical, sha);
      if (!file) return new Response("not a signed target", { status: 404 });
      return new Response(new Uint8Array(await readFile(file)));
    } catch (err) {
      this.o.log("update cache refused a target", { target: logical, error: err instanceof Error ? err.message : String(err) });
      return new Response("refused", { status: 502 });
    }
  }

  /** The path of a verified copy of `logical` with hash `sha`, fetched and checked through TUF when not here yet. */
  private async verified(upstream: string, logical: string, sha: string): Promise<string | undefined> {
    const updater = new Updater({
      metadataDir: join(this.o.dir, "metadata"),
      metadataBaseUrl: `${upstream}/metadata/`,
      targetDir: join(this.o.dir, "targets"),
      targetBaseUrl: `${upstream}/targets/`,
      config: { fetchRetries: 0, fetchRetry: 0 },
    });
    await updater.refresh();
    const info = await updater.getTargetInfo(logical);
    if (!info || info.hashes.sha256 !== sha) return undefined;
    const file = join(this.o.dir, "targets", dirname(logical), `${sha}.${basename(logical)}`);
    await mkdir(dirname(file), { recursive: true });
    return (await updater.findCachedTarget(info, file)) ?? (await updater.downloadTarget(info, file));
  }
}
