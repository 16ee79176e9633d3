// @herald/client: the browser side. The server side (for Node backends) is
// "@herald/client/server", the React hook "@herald/client/react".
export * from "./types.js";
export * from "./feed.js";
export * from "./client.js";
export { decodeClaims, refreshDelay, DEFAULT_REFRESH_LEEWAY_MS, type TokenClaims } from "./jwt.js";
