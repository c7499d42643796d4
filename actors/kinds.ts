/** Every actor kind the control plane hosts. A new actor kind registers here. */
import type { ActorKind } from "./host/kind.ts";
import { clusterKind } from "./cluster/kind.ts";
import { directorySyncKind, type DirectorySyncRunner } from "./directory-sync/kind.ts";
import { joinRequestKind } from "./join-request/kind.ts";
import { nodeKind } from "./node/kind.ts";
import { remoteSessionKind } from "./remote-session/kind.ts";
import { vpnConnectionKind } from "./vpn-connection/kind.ts";
import { vpnLeaseKind } from "./vpn-lease/kind.ts";

/** What some kinds' effects hand work to; looked up when the effect runs (built after the host). */
export interface ActorPorts {
  directorySync?: () => DirectorySyncRunner | undefined;
}

export function allActorKinds(ports: ActorPorts = {}): ActorKind[] {
  return [clusterKind, joinRequestKind, nodeKind, remoteSessionKind, directorySyncKind(ports.directorySync), vpnConnectionKind, vpnLeaseKind];
}

export const actorKinds: ActorKind[] = allActorKinds();
