/**
 * `scripts/release`: builds, signs and publishes releases (docs/updates.md).
 *
 *   release keygen --out DIR [--timestamp]
 *   release build --version V --out DIR [--channel C] [--arch A] [--workload ROLE=DIR]... [--min-agent-version V] [--no-downgrade] [--min-rollback-version V]
 *   release publish --build DIR --repo DIR --key FILE --pub FILE [--timestamp-key FILE --timestamp-pub FILE] [--root FILE] [--timestamp-days N] [--targets-days N]
 *   release refresh --repo DIR (--timestamp-key FILE --timestamp-pub FILE | --key FILE --pub FILE) [--timestamp-days N]
 *   release push --repo DIR --control-plane URL   (RAP_ACCESS_TOKEN: a platform owner's token, after step-up)
 *
 * keygen writes DIR/release.key (0600) and DIR/release.pub (with
 * --timestamp: DIR/timestamp.key and DIR/timestamp.pub, the online key that
 * keeps the feed fresh); the Product Root authorizes the public halves
 * offline with `rap root authorize-release-key`.
 * build writes the artifacts and DIR/release.json (the unsigned manifest and
 * the files); publish signs a new repository generation that adds them.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { generateProductRoot, keyFingerprint } from "../core/crypto/product-root.ts";
import { isNodeRole } from "../core/contracts/roles.ts";
import { RELEASE_CHANNELS, ReleaseManifest, ReleaseVersion } from "../core/updates/manifest.ts";
import { type SigningKey, signingKey } from "../core/updates/tuf.ts";
import { BuildError, type BuiltFile, buildAgentArtifact, buildWorkloadArtifact, REPO, releaseManifest } from "./release-lib/build.ts";
import { addRoot, checkSigningKeys, PublishError, publishRelease, refreshRepository } from "./release-lib/publish.ts";
import { httpCall, PushError, pushRepository } from "./release-lib/push.ts";

class Usage extends Error {}

const HELP = `usage: scripts/release <command> [options]

  keygen --out DIR [--timestamp]
      a release signing key: DIR/release.key (0600; keep it on the release machine) and DIR/release.pub;
      with --timestamp the online timestamp key instead: DIR/timestamp.key and DIR/timestamp.pub
  build --version V --out DIR [--channel stable|current|candidate] [--arch x64]
        [--workload ROLE=DIR]... [--min-agent-version V] [--no-downgrade] [--min-rollback-version V]
      the agent artifact for linux/ARCH (default: this machine's), workload artifacts from
      directories (each with an executable "run"), and DIR/release.json (the unsigned manifest)
  publish --build DIR --repo DIR --key FILE --pub FILE [--timestamp-key FILE --timestamp-pub FILE]
          [--root FILE] [--timestamp-days N] [--targets-days N]
      signs a new generation of the TUF repository DIR that adds the release; --root adds root
      metadata from "rap root authorize-release-key" (needed once, and after each key rotation);
      the timestamp key signs the timestamp when the root names one (else the release key does)
  refresh --repo DIR (--timestamp-key FILE --timestamp-pub FILE | --key FILE --pub FILE) [--timestamp-days N]
      signs a new timestamp for the same files, so the feed does not expire (agents refuse a
      timestamp past its expiry as a frozen feed): run it more often than --timestamp-days; it
      needs only the timestamp key (--key/--pub: a one-key root's release key)
  push --repo DIR --control-plane URL
      uploads the repository's current generation to the control plane's version storage, which
      verifies it against the Product Root before keeping it; the access token of a platform owner
      (after step-up) is read from RAP_ACCESS_TOKEN, never from the command line`;

const BuildRecord = v.strictObject({
  manifest: ReleaseManifest,
  files: v.array(v.strictObject({ target: v.string(), file: v.string(), os: v.string(), arch: v.string(), sha256: v.string(), length: v.number() })),
});

function outsideRepo(dir: string, what: string): string {
  const abs = resolve(dir);
  const rel = relative(REPO, abs);
  if (!rel.startsWith("..") && !isAbsolute(rel)) throw new Usage(`refusing to write ${what} inside the repository (${abs}); choose a directory outside it`);
  return abs;
}

async function keygen(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: "string" }, timestamp: { type: "boolean" } }, strict: true });
  if (!values.out) throw new Usage("keygen needs --out DIR (outside this repository)");
  const dir = outsideRepo(values.out, "a private key");
  const name = values.timestamp ? "timestamp" : "release";
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = await generateProductRoot();
  const keyFile = join(dir, `${name}.key`);
  await writeFile(keyFile, `${pair.privateKeyPkcs8B64}\n`, { mode: 0o600, flag: "wx" }).catch((err) => {
    throw new Usage(err.code === "EEXIST" ? `${keyFile} exists; refusing to overwrite a ${name} key` : `cannot write ${keyFile}: ${err.message}`);
  });
  await chmod(keyFile, 0o600);
  await writeFile(join(dir, `${name}.pub`), `${pair.publicKeyB64}\n`, { mode: 0o644 });
  console.log(`public key:  ${join(dir, `${name}.pub`)}\nprivate key: ${keyFile}\nfingerprint: ${await keyFingerprint(pair.publicKeyB64)}`);
}

/** An Ed25519 key pair from a private and a public file (`what` names it in the refusal). */
async function keyPair(keyFile: string, pubFile: string, what: string): Promise<SigningKey> {
  const [priv, pub] = await Promise.all([readFile(keyFile, "utf8"), readFile(pubFile, "utf8")]).catch(() => {
    throw new Usage(`cannot read the ${what} (${keyFile}, ${pubFile})`);
  });
  return signingKey(priv, pub).catch(() => {
    throw new Usage(`${keyFile} / ${pubFile} is not an Ed25519 ${what} pair`);
  });
}

function version(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!v.is(ReleaseVersion, value)) throw new Usage(`${flag} must be MAJOR.MINOR.PATCH, not "${value}"`);
  return value;
}

async function build(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      version: { type: "string" },
      out: { type: "string" },
      channel: { type: "string" },
      arch: { type: "string" },
      workload: { type: "string", multiple: true },
      "min-agent-version": { type: "string" },
      "min-rollback-version": { type: "string" },
      "no-downgrade": { type: "boolean" },
    },
    strict: true,
  });
  const ver = version(values.version, "--version");
  if (!ver || !values.out) throw new Usage("build needs --version V and --out DIR");
  const channel = values.channel ?? "candidate";
  if (!(RELEASE_CHANNELS as readonly string[]).includes(channel)) throw new Usage(`--channel is one of ${RELEASE_CHANNELS.join(", ")}`);
  const out = outsideRepo(values.out, "build output");
  const arch = values.arch ?? (process.arch === "arm64" ? "arm64" : "x64");
  const agent = await buildAgentArtifact({ version: ver, arch, outDir: out });
  const workloads: Record<string, BuiltFile[]> = {};
  for (const spec of values.workload ?? []) {
    const [role, dir] = [spec.slice(0, spec.indexOf("=")), spec.slice(spec.indexOf("=") + 1)];
    if (!isNodeRole(role) || !dir) throw new Usage(`--workload is ROLE=DIR with a node role, not "${spec}"`);
    workloads[role] = [await buildWorkloadArtifact({ version: ver, role, arch, dir: resolve(dir), outDir: out })];
  }
  const manifest = releaseManifest({
    version: ver,
    channel: channel as "candidate",
    now: new Date(),
    agent: [agent],
    workloads,
    minAgentVersion: version(values["min-agent-version"], "--min-agent-version"),
    minRollbackVersion: version(values["min-rollback-version"], "--min-rollback-version"),
    downgradeAllowed: !values["no-downgrade"],
  });
  const files = [agent, ...Object.values(workloads).flat()];
  await writeFile(join(out, "release.json"), `${JSON.stringify({ manifest, files }, null, 2)}\n`);
  for (const f of files) console.log(`${f.target}  sha256:${f.sha256}  ${f.length} bytes`);
  console.log(`manifest: ${join(out, "release.json")} (${manifest.version}, ${manifest.channel})`);
}

function days(value: string | undefined, fallback: number, flag: string): number {
  const n = Number(value ?? fallback);
  if (!Number.isFinite(n) || n <= 0 || n > 3650) throw new Usage(`${flag} must be a number of days from 1 to 3650`);
  return n * 86_400_000;
}

async function publish(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      build: { type: "string" },
      repo: { type: "string" },
      key: { type: "string" },
      pub: { type: "string" },
      "timestamp-key": { type: "string" },
      "timestamp-pub": { type: "string" },
      root: { type: "string" },
      "timestamp-days": { type: "string" },
      "targets-days": { type: "string" },
    },
    strict: true,
  });
  if (!values.build || !values.repo || !values.key || !values.pub) throw new Usage("publish needs --build DIR --repo DIR --key FILE --pub FILE");
  if (!values["timestamp-key"] !== !values["timestamp-pub"]) throw new Usage("--timestamp-key and --timestamp-pub go together");
  const text = await readFile(join(values.build, "release.json"), "utf8").catch(() => {
    throw new Usage(`${values.build}/release.json is missing; run "scripts/release build" first`);
  });
  const record = v.safeParse(BuildRecord, JSON.parse(text));
  if (!record.success) throw new Usage(`${values.build}/release.json is not a build record: ${record.issues[0]?.message}`);
  const key = await keyPair(values.key, values.pub, "release key");
  const timestampKey = values["timestamp-key"] ? await keyPair(values["timestamp-key"], values["timestamp-pub"] as string, "timestamp key") : undefined;
  const repo = outsideRepo(values.repo, "a release repository");
  if (values.root) console.log(`root version ${await addRoot(repo, new Uint8Array(await readFile(values.root)))} added`);
  await checkSigningKeys(repo, { release: key, timestamp: timestampKey ?? key });
  const ts = await publishRelease({
    repoDir: repo,
    releaseKey: key,
    timestampKey,
    manifest: record.output.manifest,
    files: record.output.files,
    now: new Date(),
    timestampValidMs: days(values["timestamp-days"], 7, "--timestamp-days"),
    targetsValidMs: days(values["targets-days"], 365, "--targets-days"),
  });
  console.log(`published ${record.output.manifest.version} to ${repo} (timestamp version ${ts})`);
}

async function refresh(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      repo: { type: "string" },
      "timestamp-key": { type: "string" },
      "timestamp-pub": { type: "string" },
      key: { type: "string" },
      pub: { type: "string" },
      "timestamp-days": { type: "string" },
    },
    strict: true,
  });
  const [keyFile, pubFile] = values["timestamp-key"] ? [values["timestamp-key"], values["timestamp-pub"]] : [values.key, values.pub];
  if (!values.repo || !keyFile || !pubFile)
    throw new Usage("refresh needs --repo DIR and --timestamp-key FILE --timestamp-pub FILE (a one-key root: --key FILE --pub FILE, the release key)");
  const timestampKey = await keyPair(keyFile, pubFile, "timestamp key");
  const repo = resolve(values.repo);
  await checkSigningKeys(repo, { timestamp: timestampKey });
  const ts = await refreshRepository({
    repoDir: repo,
    timestampKey,
    now: new Date(),
    timestampValidMs: days(values["timestamp-days"], 7, "--timestamp-days"),
  });
  console.log(`refreshed ${values.repo} (timestamp version ${ts})`);
}

async function push(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { repo: { type: "string" }, "control-plane": { type: "string" } }, strict: true });
  if (!values.repo || !values["control-plane"]) throw new Usage("push needs --repo DIR --control-plane URL");
  const token = process.env.RAP_ACCESS_TOKEN?.trim();
  if (!token) throw new Usage("push reads the access token from RAP_ACCESS_TOKEN (a platform owner's, after step-up)");
  if (!/^https?:\/\//.test(values["control-plane"])) throw new Usage("--control-plane is an http(s) URL");
  const answer = await pushRepository(resolve(values.repo), httpCall(values["control-plane"], token));
  console.log(`pushed ${values.repo}: timestamp version ${String(answer.timestamp_version)}, new releases: ${JSON.stringify(answer.releases)}`);
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { keygen, build, publish, refresh, push };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || (command && COMMANDS[command] && (rest.includes("--help") || rest.includes("-h")))) {
    console.log(HELP);
    return 0;
  }
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    console.error(command ? `release: unknown command "${command}"\n\n${HELP}` : HELP);
    return 2;
  }
  try {
    await run(rest);
    return 0;
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`release: ${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    if (err instanceof BuildError || err instanceof PublishError || err instanceof PushError) {
      console.error(`release: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

process.exit(await main(process.argv.slice(2)));
