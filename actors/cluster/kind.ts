/** Registers the cluster actor with the host. */
import type { ActorKind } from "../host/kind.ts";
import { clusterMachine } from "./machine.ts";
import { projectCluster } from "./persist.ts";

export const CLUSTER = "cluster";

export const clusterKind: ActorKind = {
  kind: CLUSTER,
  machine: clusterMachine,
  machineVersion: 1,
  project: projectCluster,
};
