/** Chooses live state: Redis when a URL is given, in-process otherwise. */
import type { LiveState } from "./live-state.ts";
import { memoryLiveState } from "./memory.ts";
import { redisLiveState } from "./redis.ts";
import { redactUrl } from "../core/urls.ts";

export async function openLiveState(redisUrl?: string): Promise<{ live: LiveState; describe: string }> {
  if (redisUrl) return { live: await redisLiveState(redisUrl), describe: `redis ${redactUrl(redisUrl)}` };
  return { live: memoryLiveState(), describe: "in-process live state" };
}
