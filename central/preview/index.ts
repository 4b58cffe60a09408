/**
 * central/preview/ — "see before you pull" at central: the previews (thumbnails + per-second
 * activity) edges send for their segments, stored as received (DATA/preview/) and indexed in
 * central's database (pv_*, migration 0006); the federation PUT that receives them; the user API over them
 * (thumbnail of a moment, band of a window, next/previous activity, search across cameras and
 * sites). Must not import edge/. Design: docs/design/preview.md.
 *
 * Wiring (central/compose.ts): const pv = await createPreview({dataDir, database, clock, log});
 *   federationRoutes: pv.federationRoutes(app); apiRoutes: pv.apiRoutes(api, () => sites).
 */
import type { Hono } from "hono";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { ApiRouter, FederationEnv } from "../index.ts";
import type { Sites } from "../sites/index.ts";
import { mountPreviewApi, mountPreviewFederation } from "./routes.ts";
import { PreviewStore } from "./store.ts";
import { mirrorEdgeHas, prunePreviews, type PrunedCamera } from "./retention.ts";
import type { RetentionPolicy } from "../../lib/store/index.ts";
import type { Database, Sql } from "../db/index.ts";

export { type PrunedCamera } from "./retention.ts";
export { PreviewStore, PreviewRefused, type ActivityRun, type ThumbRef } from "./store.ts";

export interface PreviewModule {
  readonly store: PreviewStore;
  federationRoutes(app: Hono<FederationEnv>): void;
  apiRoutes(api: ApiRouter, sites: () => Sites | null): void;
  /** Retention pass over the previews (central/preview/retention.ts), with central's policy and index mirror. */
  prune(policyOf: (centralCameraId: string) => RetentionPolicy, mirror: () => Sql | null): Promise<PrunedCamera[]>;
  close(): Promise<void>;
}

export async function createPreview(o: { dataDir: string; database: Database; clock: Clock; log: Logger }): Promise<PreviewModule> {
  const store = await PreviewStore.open(o.dataDir, o.database, o.clock, o.log);
  return {
    store,
    federationRoutes: (app) => mountPreviewFederation(app, store),
    apiRoutes: (api, sites) => mountPreviewApi(api, { store, sites, now: () => o.clock.now() }),
    prune: (policyOf, mirror) => prunePreviews({ store, now: () => o.clock.now(), policyOf, edgeHas: mirrorEdgeHas(mirror) }),
    close: () => store.close(),
  };
}
