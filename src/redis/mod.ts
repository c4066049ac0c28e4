/**
 * A Redis client over the runtime adapter: RESP2 ({@linkcode RespDecoder},
 * {@linkcode encodeCommand}) and {@linkcode RedisClient}, with commands pipelined in order,
 * publish/subscribe, `AUTH`, `SELECT` and TLS from a `redis://` or `rediss://` URL, and typed
 * errors, and {@linkcode RedisLink}, which reconnects with backoff and subscribes again.
 *
 * @example
 * ```ts
 * import { RedisClient, replyText } from "./mod.ts";
 * const redis = await RedisClient.connect({ url: "redis://127.0.0.1:6379" });
 * await redis.command(["SET", "k", "v"]);
 * console.log(replyText(await redis.command(["GET", "k"])));
 * await redis.close();
 * ```
 *
 * @module
 */

export * from "./resp.ts";
export * from "./redis_client.ts";
export * from "./redis_link.ts";
