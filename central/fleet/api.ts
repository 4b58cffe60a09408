/**
 * Fleet routes (through the rights router): live positions of the vehicles a user may see, a
 * vehicle's track for a window, and place-and-time search (area + window → every vehicle,
 * camera and time range whose track entered the area, with where its footage is).
 */
import { z } from "zod";
import { iso } from "../../lib/clock.ts";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { queryParam, timeQuery } from "../../lib/http/query.ts";
import type { Area } from "../../lib/geo.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Sites } from "../sites/index.ts";
import { FleetStore, footageOf } from "./fleet.ts";

const DAY = 86_400_000;
const isoTime = z.string().refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && Number.isFinite(Date.parse(v)) && Date.parse(v) >= 0 && Date.parse(v) <= 253_402_300_799_999, "must be an ISO 8601 time (e.g. 2026-01-01T14:00:00Z)");
const lat = z.number().min(-90).max(90);
const lon = z.number().min(-180).max(180);

export const SearchBody = z
  .object({
    area: z.union([
      z.object({ circle: z.object({ lat, lon, radiusM: z.number().positive().max(50_000) }).strict() }).strict(),
      z.object({ polygon: z.array(z.object({ lat, lon }).strict()).min(3).max(500) }).strict(),
    ]),
    from: isoTime,
    to: isoTime,
    /** Stream whose footage is reported; default main. */
    stream: z.enum(["main", "sub"]).default("main"),
  })
  .strict();

export interface FleetDeps {
  /** The control plane (attached after the routes are mounted: resolved per request). */
  sites: () => Sites;
  /** Enrolled sites (id, name, online) from central's registry. */
  siteList: () => { id: string; name: string; online: boolean; lastSeenAt: string | null }[];
  /** When a site last finished a depot offload (central/transfer), ms; null = never. */
  lastOffloadMs?: (siteId: string) => number | null;
}

const FIX = ["no-source", "no-fix", "2d", "3d"];
const pointOut = (p: [number, number, number | null, number | null, number | null, number | null]) => ({
  time: iso(p[0]),
  fix: FIX[p[1]] ?? "no-source",
  ...(p[2] !== null && p[3] !== null ? { lat: p[2], lon: p[3] } : {}),
  ...(p[4] !== null ? { speedMps: p[4] } : {}),
  ...(p[5] !== null ? { headingDeg: p[5] } : {}),
});

export function mountFleetRoutes(api: ApiRouter, d: FleetDeps): void {
  const rights = api.rights;
  const tag = "fleet";
  const sites = () => {
    const s = d.sites();
    if (!s) throw new Error("control plane not attached yet");
    return s;
  };
  const fleet = new FleetStore(() => sites().fleetDb);

  api.route({ method: "get", path: "/api/v1/fleet/positions", summary: "Every vehicle you may see: latest position, heading, speed and state (moving, parked, offline since)", tag, rights: { user: "filtered" } }, async (c) => {
    const sites = rights.visibleSites(c.var.session, d.siteList());
    const pos = new Map((await fleet.positions()).map((p) => [p.siteId, p]));
    return c.json({
      vehicles: sites.map((s) => {
        const p = pos.get(s.id);
        const data = p?.data ?? {};
        const vehicle = typeof data.vehicle === "string" ? data.vehicle : null;
        const speed = typeof data.speed === "number" ? data.speed : null;
        const state = !s.online ? "offline" : vehicle === "parked" || vehicle === "low-voltage" ? "parked" : speed !== null && speed > 0.5 ? "moving" : "stopped";
        return {
          siteId: s.id,
          name: s.name,
          state,
          online: s.online,
          ...(s.online ? {} : { offlineSince: s.lastSeenAt }),
          vehicle,
          position: p
            ? {
                time: iso(p.atMs),
                fix: FIX[Number(data.mode)] ?? "no-source",
                ...(typeof data.lat === "number" && typeof data.lon === "number" ? { lat: data.lat, lon: data.lon } : {}),
                ...(speed !== null ? { speedMps: speed } : {}),
                ...(typeof data.heading === "number" ? { headingDeg: data.heading } : {}),
              }
            : null,
          lastOffloadAt: ((ms) => (ms ? iso(ms) : null))(d.lastOffloadMs?.(s.id) ?? null),
        };
      }),
    });
  });

  api.route({ method: "get", path: "/api/v1/sites/:id/track", summary: "A vehicle's kept track for a window (≤ 7 days): time, fix, position, speed, heading", tag, rights: { right: "any", site: ":id", viaCamera: true } }, async (c) => {
    const id = c.req.param("id");
    if (!sites().siteExists(id)) throw notFound(`No site with id ${id}.`);
    const to = queryParam(c, "to", timeQuery(), sites().clock.now());
    const from = queryParam(c, "from", timeQuery(), to - DAY);
    if (to <= from) throw badRequest("from must be before to.");
    if (to - from > 7 * DAY) throw badRequest("The window may be at most 7 days.");
    const points = await fleet.track(id, from, to);
    return c.json({ siteId: id, from: iso(from), to: iso(to), points: points.map(pointOut) });
  });

  api.route({ method: "post", path: "/api/v1/fleet/search", summary: "Place-and-time search: every (vehicle, camera, time range) whose track entered the area in the window, with where the footage is (central, edge, gone)", tag, rights: { user: "filtered" }, body: SearchBody }, async (c, { body: b }) => {
    const fromMs = Date.parse(b.from);
    const toMs = Date.parse(b.to);
    if (toMs <= fromMs) throw badRequest("from must be before to.");
    if (toMs - fromMs > 31 * DAY) throw badRequest("The window may be at most 31 days.");
    const sub = c.var.session;
    const names = new Map(d.siteList().map((s) => [s.id, s.name]));
    const started = performance.now();
    const hits = await fleet.search(b.area as Area, fromMs, toMs, (id) => names.has(id) && rights.canSeeSite(sub, id));
    const cameras = rights.visibleCameras(sub, await sites().cameras());
    const results = [];
    for (const h of hits) {
      for (const cam of cameras.filter((x) => x.siteId === h.siteId)) {
        for (const v of h.visits) {
          const tl = await sites().timeline(h.siteId, cam.channel, b.stream, v.fromMs, v.toMs);
          const ranges = tl.ranges.map((r) => ({ startMs: Date.parse(r.start), endMs: Date.parse(r.end), held: r.held }));
          results.push({
            siteId: h.siteId,
            siteName: names.get(h.siteId) ?? h.siteId,
            cameraId: cam.id,
            cameraName: cam.name,
            stream: b.stream,
            from: iso(v.fromMs),
            to: iso(v.toMs),
            footage: footageOf(ranges, v.fromMs, v.toMs).map((f) => ({ from: iso(f.fromMs), to: iso(f.toMs), at: f.at })),
          });
        }
      }
    }
    return c.json({ vehicles: hits.map((h) => h.siteId), results, tookMs: Math.round(performance.now() - started) });
  });
}
