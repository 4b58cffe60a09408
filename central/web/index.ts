/**
 * central/web/: the web client at central — serves the bundle built from web/ (assets
 * immutable, index.html no-cache, SPA fallback; see web/serve.ts) and owns the saved-views
 * API (views.ts). Must not touch other routes; startCentral mounts it after every other one.
 */
import type { Clock } from "../../lib/clock.ts";
import type { Database } from "../db/index.ts";
import type { ApiRouter } from "../openapi.ts";
import { mountWeb } from "../../web/serve.ts";
import { Views, mountViews } from "./views.ts";

export { Views, mountViews } from "./views.ts";

/** Views API first, then the catch-all page routes. */
export async function centralWeb(db: Database, clock: Clock): Promise<(api: ApiRouter) => void> {
  const views = new Views(db, clock);
  return (api) => {
    mountViews(api, views);
    // The page fallback answers GETs outside /api/ only (it passes /api/ on), so it is no API route.
    api.exempt([{ method: "GET", path: "/*" }], "web client pages and assets (GET outside /api/)", (app) => mountWeb(app, { role: "central" }));
  };
}
