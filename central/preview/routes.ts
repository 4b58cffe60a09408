/**
 * Preview routes. Federation (mTLS, the site is the certificate's): PUT of one segment's
 * preview. User API (rights router): a thumbnail of a moment, thumbnails + activity band of a
 * window, next/previous activity, and a search over the activity of many cameras — all
 * answered from central's preview store, never by asking an edge.
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { intQuery, queryParam, timeQuery } from "../../lib/http/query.ts";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { iso } from "../../lib/clock.ts";
import { H } from "../../federation/transfer/index.ts";
import { MAX_PREVIEW_BYTES } from "../../lib/preview/format.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiEnv, ApiRouter, FederationEnv } from "../index.ts";
import type { Sites } from "../sites/index.ts";
import { PreviewRefused, type PreviewStore } from "./store.ts";

const CAMERA = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DAY = 86_400_000;

export function mountPreviewFederation(app: Hono<FederationEnv>, store: PreviewStore): void {
  app.put("/federation/v1/preview/:cam/:stream/:start", async (c) => {
    const cam = c.req.param("cam");
    const stream = c.req.param("stream");
    const start = c.req.param("start");
    if (!CAMERA.test(cam) || (stream !== "main" && stream !== "sub") || !/^\d{1,15}$/.test(start)) throw badRequest("Preview path is /federation/v1/preview/{camera}/{main|sub}/{startMs}.");
    const len = Number(c.req.header("content-length") ?? "0");
    if (len > MAX_PREVIEW_BYTES) return c.json({ type: "about:blank", title: "Too large", status: 413, detail: `A preview is at most ${MAX_PREVIEW_BYTES} bytes.` }, 413);
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length > MAX_PREVIEW_BYTES) return c.json({ type: "about:blank", title: "Too large", status: 413, detail: `A preview is at most ${MAX_PREVIEW_BYTES} bytes.` }, 413);
    try {
      return c.json(await store.put(c.var.peer.siteId, cam, stream, Number(start), body, c.req.header(H.sha256)));
    } catch (e) {
      if (e instanceof PreviewRefused) return c.json({ type: "about:blank", title: "Preview refused", status: e.status, detail: e.message }, e.status);
      throw e;
    }
  });
}

export function mountPreviewApi(api: ApiRouter, d: { store: PreviewStore; sites: () => Sites | null; now: () => number }): void {
  const tag = "preview";
  const rights = api.ops.rights;
  const rule = { right: "playback", camera: ":id" } as const;
  const camOf = (c: Context<ApiEnv>) => {
    const id = c.req.param("id") ?? "";
    const p = splitCentralCameraId(id);
    if (!p) throw notFound(`No camera with id ${id} (central camera ids are <site>.<camera>).`);
    return { id, ...p };
  };
  const window = (c: Context<ApiEnv>, maxMs: number) => {
    const to = queryParam(c, "to", timeQuery(), d.now());
    const from = queryParam(c, "from", timeQuery(), to - 3_600_000);
    if (!(to > from)) throw badRequest("The query parameter 'to' must be after 'from'.");
    if (to - from > maxMs) throw badRequest(`The window from 'from' to 'to' may be at most ${maxMs / 3_600_000} hours long.`);
    return { from, to };
  };

  api.route({ method: "get", path: "/api/v1/cameras/:id/preview/thumbnail", summary: "The thumbnail of a moment of edge footage (the last one at or before `at`, within a minute), as the edge made it", tag, rights: rule, produces: "image/jpeg" }, async (c) => {
    const cam = camOf(c);
    const at = queryParam(c, "at", timeQuery(), NaN);
    if (!Number.isFinite(at)) throw badRequest("The query parameter 'at' is required.");
    const t = await d.store.thumbnail(cam.siteId, cam.cameraId, at);
    if (!t) throw notFound(`No thumbnail of ${cam.id} near ${iso(at)}.`);
    return new Response(t.jpeg.slice(), {
      headers: { "content-type": "image/jpeg", "cache-control": "private, max-age=3600", etag: `"${t.sha256}"`, "x-outpost-at": iso(t.atMs), "x-outpost-sha256": t.sha256 },
    });
  });

  api.route({ method: "get", path: "/api/v1/cameras/:id/preview", summary: "Thumbnails and activity band of a window (≤ 7 days), from previews the edge sent; buckets of `step` s (default: about 600 buckets)", tag, rights: rule }, async (c) => {
    const cam = camOf(c);
    const w = window(c, 7 * DAY);
    const stepMs = queryParam(c, "step", intQuery({ min: 1, max: 86_400 }), Math.max(1, Math.ceil((w.to - w.from) / 600_000))) * 1000;
    const limit = queryParam(c, "limit", intQuery({ min: 1, max: 2000 }), 200);
    const [thumbs, levels] = await Promise.all([d.store.thumbnails(cam.siteId, cam.cameraId, w.from, w.to, limit), d.store.activity(cam.siteId, cam.cameraId, w.from, w.to, stepMs)]);
    return c.json({
      cameraId: cam.id,
      from: iso(w.from),
      to: iso(w.to),
      thumbnails: thumbs.map((t) => ({ at: iso(t.atMs), atMs: t.atMs, bytes: t.bytes, sha256: t.sha256, width: t.width, height: t.height })),
      activity: { fromMs: w.from, stepMs, levels },
    });
  });

  api.route({ method: "get", path: "/api/v1/cameras/:id/activity/step", summary: "The next (or previous) stretch of activity from a moment, from the activity index (no edge asked)", tag, rights: rule }, async (c) => {
    const cam = camOf(c);
    const at = queryParam(c, "at", timeQuery(), NaN);
    if (!Number.isFinite(at)) throw badRequest("The query parameter 'at' is required.");
    const direction = queryParam(c, "direction", z.enum(["next", "previous"]), "next");
    const r = await d.store.step(cam.siteId, cam.cameraId, at, direction);
    if (!r) throw notFound(`No ${direction} activity of ${cam.id} from ${iso(at)} in the previews central holds.`);
    return c.json({ cameraId: cam.id, direction, start: iso(r.startMs), end: iso(r.endMs), startMs: r.startMs, endMs: r.endMs, peak: r.peak });
  });

  const list = z
    .string()
    .max(10_000)
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));
  api.route({ method: "get", path: "/api/v1/activity/search", summary: "Stretches of activity in a window (≤ 31 days) across the cameras and sites you may play back, from the activity index alone", tag, rights: { user: "filtered" } }, async (c) => {
    const w = window(c, 31 * DAY);
    const sites = queryParam(c, "sites", list, []);
    const cameras = queryParam(c, "cameras", list, []);
    const minLevel = queryParam(c, "minLevel", intQuery({ min: 0, max: 100 }), 0);
    const limit = queryParam(c, "limit", intQuery({ min: 1, max: 10_000 }), 1000);
    for (const id of cameras) if (!splitCentralCameraId(id)) throw badRequest(`The query parameter 'cameras' names '${id}', not a central camera id (<site>.<camera>).`);
    const known = (await d.sites()?.cameras()) ?? [];
    const wanted = known
      .filter((k) => (!sites.length || sites.includes(k.siteId)) && (!cameras.length || cameras.includes(k.id)))
      .filter((k) => !rights || rights.has(c.var.session, "playback", { site: k.siteId, camera: k.id }));
    const runs = await d.store.runs(wanted.map((k) => ({ siteId: k.siteId, cameraId: k.channel })), w.from, w.to, minLevel, limit);
    return c.json({
      from: iso(w.from),
      to: iso(w.to),
      cameras: wanted.length,
      results: runs.map((r) => ({ cameraId: `${r.siteId}.${r.cameraId}`, siteId: r.siteId, start: iso(r.startMs), end: iso(r.endMs), startMs: r.startMs, endMs: r.endMs, peak: r.peak })),
    });
  });
}
