/**
 * central/web/: the web client at central — serves the bundle built from web/ (assets
 * immutable, index.html no-cache, SPA fallback; see web/serve.ts) and owns the saved-views
 * API (views.ts). Must not touch other routes; startCentral mounts it after every other one.
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { Clock } from "../../lib/clock.ts";
import type { ApiEnv } from "../api.ts";
import type { Db } from "../db.ts";
import type { OpenApiRegistry } from "../openapi.ts";
import { mountWeb } from "../../web/serve.ts";
import { Views, mountViews } from "./views.ts";

export { Views, mountViews } from "./views.ts";

/** Views API first, then the catch-all page routes. */
export async function centralWeb(db: Db, clock: Clock): Promise<(app: Hono<ApiEnv>, auth: MiddlewareHandler<ApiEnv>, reg: OpenApiRegistry) => void> {
  const views = new Views(db, clock);
  await views.init();
  return (app, auth, reg) => {
    mountViews(app, auth, reg, views);
    mountWeb(app, { role: "central" });
  };
}
