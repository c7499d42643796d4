/**
 * The control plane's composition root: opens the stores, applies
 * migrations, checks this replica's keys against the installation's
 * (installation/keys.ts), starts the actor host, the timer scheduler and the fabric
 * services, and hands out the `ControlDeps` every use case takes. `http/`
 * (server.ts) asks this module for its deps and only serves them; `stop()`
 * finishes the scheduler's tick and the fabric's pending writes, then closes
 * the stores.
 */
import { VpnReconciler } from "./vpn/reconciler.ts";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ActorHost } from "../actors/host/host.ts";
import { TimerScheduler } from "../actors/host/scheduler.ts";
import { AdapterLeaseSweeper } from "./sessions/adapter-lease.ts";
import { allActorKinds } from "../actors/kinds.ts";
import { SyncRunner } from "./identity-sources/directory-sync.ts";
import type { Logger } from "../core/log.ts";
import { controlPlaneMetrics, type ControlPlaneMetrics } from "../core/metrics.ts";
import { openDb } from "../sql/open.ts";
import { migrate } from "../sql/migrate.ts";
import { openLiveState } from "../live/open.ts";
import type { Config } from "./config.ts";
import type { ControlDeps } from "./deps.ts";
import { createFabric } from "./fabric.ts";
import { loadIdentity } from "./identity.ts";
import { checkInstallationKeys } from "./installation/keys.ts";
import { databaseFailure, dataDirFailure, liveStateFailure } from "./startup.ts";

export interface ControlPlane {
  deps: ControlDeps;
  metrics: ControlPlaneMetrics;
  /** Where the stores are, for the start-up log line. */
  describe: { store: string; liveState: string };
  /** Starts the durable-timer scheduler (after the server listens). */
  start(): void;
  stop(): Promise<void>;
}

export async function openControlPlane(cfg: Config, log: Logger): Promise<ControlPlane> {
  // Keys and the embedded database live here: owner-only, even when the directory already existed.
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 })
    .then(() => chmod(cfg.dataDir, 0o700))
    .catch((err) => {
      throw dataDirFailure(err, cfg.dataDir);
    });
  // Keys first: a bad key file should stop start-up before anything touches the database.
  const identity = await loadIdentity(cfg, log);
  const { db, describe: store } = await openDb(cfg).catch((err) => {
    throw databaseFailure(err, cfg);
  });
  // Both stores answer before anything is written: an unreachable Redis stops start-up with the database untouched.
  const { live, describe: liveState } = await openLiveState(cfg.redisUrl, log).catch(async (err) => {
    await db.close();
    throw liveStateFailure(err, cfg.redisUrl ?? "");
  });
  const { applied } = await migrate(db);
  if (applied.length) log.info("migrations applied", { migrations: applied });
  // Before anything else writes: a replica whose keys differ from the installation's must change nothing.
  const keys = await checkInstallationKeys(db, identity.fingerprints).catch(async (err) => {
    await live.close();
    await db.close();
    throw err;
  });
  if (keys.recorded.length) log.info("installation keys recorded", { keys: keys.recorded });
  if (keys.activatedSecret)
    log.info("secret encryption key is now the installation's active key", { key_id: keys.activatedSecret.to, previous_key_id: keys.activatedSecret.from });

  const metrics = controlPlaneMetrics();
  // The directory-sync actor's timer hands due syncs to the runner, built once the deps exist.
  let syncRunner: SyncRunner | undefined;
  const host = new ActorHost({ db, live, kinds: allActorKinds({ directorySync: () => syncRunner }), log, metrics });
  const scheduler = new TimerScheduler({ db, host, log, metrics, pollMs: cfg.timerPollMs });
  const adapterLeases = new AdapterLeaseSweeper({ db, live, host, clock: () => new Date(), log }, { silenceMs: cfg.adapterSilenceMs });
  const fabric = createFabric({
    db,
    live,
    host,
    log,
    keyring: identity.keyring,
    replicaMinority: cfg.replicaPartition === "minority",
    versionsDir: join(cfg.dataDir, "versions"),
  });
  await fabric.nodeBlocklist.start();
  await fabric.snapshots.start();
  const deps: ControlDeps = { db, live, host, clock: () => new Date(), identity, fabric, log };
  syncRunner = new SyncRunner(deps);
  const vpnReconciler = new VpnReconciler(deps);
  return {
    deps,
    metrics,
    describe: { store, liveState },
    start: () => {
      scheduler.start();
      adapterLeases.start();
      vpnReconciler.start();
    },
    stop: async () => {
      await vpnReconciler.stop();
      await adapterLeases.stop();
      await scheduler.stop();
      await syncRunner?.idle();
      await fabric.heartbeats.stop();
      await fabric.nodeBlocklist.stop();
      await fabric.snapshots.stop();
      await live.close();
      await db.close();
    },
  };
}
