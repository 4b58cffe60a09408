/**
 * Routes the web client's fleet map needs beside the fleet API (api.ts): its tile settings
 * (central config `web.map`), and a vehicle's track cut into runs by where its video is held
 * (central / edge only / gone), so the map colours the day's track by what can be played.
 */
import { z } from "zod";
import { iso } from "../../lib/clock.ts";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { timeQuery } from "../../lib/http/query.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Sites } from "../sites/index.ts";
import { FleetStore, footageOf } from "./fleet.ts";
import { bestHolding, splitTrack } from "./track-holdings.ts";

const DAY = 86_400_000;

export interface FleetMapDeps {
  sites: () => Sites;
  /** central config `web.map`. */
  map: { tileUrl?: string; attribution: string };
}

const TrackFootageQuery = z.object({
  from: timeQuery().optional().describe("start of the window (default: `to` − 24 h)"),
  to: timeQuery().optional().describe("end of the window (default: now)"),
  camera: z.string().max(200).optional().describe("one of the site's cameras (<site>.<camera>); default: the best holding over every camera you may see"),
  stream: z.enum(["main", "sub"]).default("main"),
});

export function mountFleetMapRoutes(api: ApiRouter, d: FleetMapDeps): void {
  const tag = "fleet";
  const rights = api.rights;
  const sites = () => {
    const s = d.sites();
    if (!s) throw new Error("control plane not attached yet");
    return s;
  };
  const fleet = new FleetStore(() => sites().fleetDb);

  api.route({ method: "get", path: "/api/v1/fleet/map", summary: "The fleet map's settings: tile URL template (none = a plain background) and attribution", tag, rights: { user: "filtered" } }, (c) =>
    c.json({ tileUrl: d.map.tileUrl ?? null, attribution: d.map.attribution }),
  );

  api.route(
    {
      method: "get",
      path: "/api/v1/sites/:id/track-footage",
      summary: "A vehicle's track for a window (≤ 2 days) as runs of one footage holding each: central, edge (only), gone",
      tag,
      rights: { right: "any", site: ":id", viaCamera: true },
      query: TrackFootageQuery,
    },
    async (c, { query: q }) => {
      const id = c.req.param("id");
      if (!sites().siteExists(id)) throw notFound(`No site with id ${id}.`);
      const to = q.to ?? sites().clock.now();
      const from = q.from ?? to - DAY;
      if (to <= from) throw badRequest("from must be before to.");
      if (to - from > 2 * DAY) throw badRequest("The window may be at most 2 days.");
      const mine = rights.visibleCameras(c.var.session, await sites().camerasOf(id));
      const cams = q.camera ? mine.filter((x) => x.id === q.camera) : mine;
      if (q.camera && !cams.length) throw notFound(`No camera ${q.camera} on site ${id}.`);
      const perCamera = [];
      for (const cam of cams) {
        const tl = await sites().timeline(id, cam.channel, q.stream, from, to);
        perCamera.push(footageOf(tl.ranges.map((r) => ({ startMs: Date.parse(r.start), endMs: Date.parse(r.end), held: r.held })), from, to));
      }
      const runs = splitTrack(await fleet.track(id, from, to), bestHolding(perCamera, from, to));
      return c.json({
        siteId: id,
        from: iso(from),
        to: iso(to),
        cameras: cams.map((x) => x.id),
        runs: runs.map((r) => ({ from: iso(r.fromMs), to: iso(r.toMs), at: r.at, points: r.points })),
      });
    },
  );
}
