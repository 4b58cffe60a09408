/**
 * The edge recorder's local HTTP API (/api/v1, OpenAPI at /api/v1/openapi.json). Owns request
 * handling only; reads recordings through the store and lib/playback, and knows ingest only
 * through the CameraView snapshots it is given. Must not touch ingest, store internals or media.
 */
export { createEdgeApi, type EdgeApi } from "./app.ts";
export type { CameraView, StreamView, StreamStatus, StoreView, EdgeApiConfig, EdgeApiDeps } from "./types.ts";
export { openApiDocument, routeDrift } from "./openapi.ts";
