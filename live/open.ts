/** Chooses live state: Redis when a URL is given, in-process otherwise. */
import type { LiveState } from "./live-state.ts";
import { memoryLiveState } from "./memory.ts";
import { redisLiveState } from "./redis.ts";
import { redactUrl } from "../core/urls.ts";
import type { Logger } from "../core/log.ts";

export async function openLiveState(redisUrl?: string, log?: Logger): Promise<{ live: LiveState; describe: string }> {
  if (redisUrl) {
    const live = await redisLiveState(redisUrl, undefined, {
      onConnection: (state, err) =>
        state === "lost"
          ? log?.warn("redis connection lost; reconnecting", { err, redis: redactUrl(redisUrl) })
          : log?.info("redis connection restored", { redis: redactUrl(redisUrl) }),
    });
    return { live, describe: `redis ${redactUrl(redisUrl)}` };
  }
  return { live: memoryLiveState(), describe: "in-process live state" };
}
