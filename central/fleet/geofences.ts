/**
 * Geofences: named areas; a vehicle's track entering or leaving one is an event
 * (`geofence.enter` / `geofence.leave`, site-level, at the time of the first point on the new
 * side) for the rules engine. Evaluated on every track chunk central stores, in the chunk's
 * order; the inside/outside state per (site, geofence) is kept in the mirror so a restart
 * does not repeat an entry. Points without a fix change nothing.
 */
import { z } from "zod";
import { inArea, type Area } from "../../lib/geo.ts";
import { notFound } from "../../lib/http/problem.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Db } from "../db.ts";
import type { SiteEvent } from "../sites/index.ts";
import { SearchBody } from "./api.ts";
import { pieceTouches, type TrackPoint } from "./visits.ts";

export const GeofencePut = z.object({ name: z.string().min(1).max(200), area: SearchBody.shape.area }).strict();
const GeofenceId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 letters, digits, '-' or '_'");

interface Fence {
  id: string;
  name: string;
  area: Area;
}

export class Geofences {
  private fences: Fence[] = [];
  private inside = new Map<string, boolean>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: { db: () => Db; emit: (e: SiteEvent) => void; log: Logger }) {}

  /** Loads fences and states (after the mirror is open). */
  async init(): Promise<void> {
    const db = this.o.db();
    await db.run(`CREATE TABLE IF NOT EXISTS fleet_geofences (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, area VARCHAR NOT NULL, created_ms BIGINT)`);
    await db.run(`CREATE TABLE IF NOT EXISTS fleet_geofence_state (site_id VARCHAR, geofence_id VARCHAR, inside BOOLEAN, at_ms BIGINT, PRIMARY KEY (site_id, geofence_id))`);
    this.fences = (await db.all<{ id: string; name: string; area: string }>(`SELECT id, name, area FROM fleet_geofences ORDER BY id`)).map((r) => ({ id: r.id, name: r.name, area: JSON.parse(r.area) as Area }));
    for (const r of await db.all<{ site_id: string; geofence_id: string; inside: boolean }>(`SELECT site_id, geofence_id, inside FROM fleet_geofence_state`)) this.inside.set(`${r.site_id}\u0000${r.geofence_id}`, r.inside);
  }

  /** A stored track chunk of a site: transitions become events (serialised, in arrival order). */
  onTrack(siteId: string, points: readonly TrackPoint[]): Promise<void> {
    const run = async () => {
      for (const f of this.fences) {
        const key = `${siteId}\u0000${f.id}`;
        let was = this.inside.get(key) ?? false;
        let changedAt: number | null = null;
        let prev: TrackPoint | null = null;
        const emit = (kind: "geofence.enter" | "geofence.leave", p: TrackPoint) => {
          changedAt = p[0];
          this.o.emit({ siteId, cameraId: null, eventId: `geofence:${f.id}:${kind}:${p[0]}`, kind, atMs: p[0], data: { geofence: f.id, name: f.name, lat: p[2], lon: p[3] } });
        };
        for (const p of points) {
          if (p[1] < 2 || p[2] === null || p[3] === null) {
            prev = null; // no line is drawn across "no fix"
            continue;
          }
          const here = { lat: p[2], lon: p[3] };
          const inside = inArea(f.area, here);
          // A piece that only passes through the area (no kept point inside) is an entry and an exit:
          // entry at the piece's start, exit at its end (the widest the passage can be).
          const touched = prev ? pieceTouches(f.area, { lat: prev[2]!, lon: prev[3]! }, here) : inside;
          if (!was && (inside || touched)) {
            emit("geofence.enter", prev && !inArea(f.area, { lat: prev[2]!, lon: prev[3]! }) ? prev : p);
            was = true;
          }
          if (was && !inside) {
            emit("geofence.leave", p);
            was = false;
          }
          prev = p;
        }
        if (changedAt !== null) {
          this.inside.set(key, was);
          await this.o.db().run(`INSERT OR REPLACE INTO fleet_geofence_state VALUES ($1, $2, $3, $4)`, [siteId, f.id, was, changedAt]);
        }
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch((e) => this.o.log.error("geofence evaluation failed", { err: e as Error, site: siteId }));
    return p;
  }

  mount(api: ApiRouter): void {
    const tag = "fleet";
    api.route({ method: "get", path: "/api/v1/geofences", summary: "Geofences (named areas whose entry and exit are events for rules)", tag, rights: { user: "filtered" } }, (c) =>
      c.json({ geofences: this.fences.map((f) => ({ id: f.id, name: f.name, area: f.area })) }),
    );
    api.route({ method: "put", path: "/api/v1/geofences/:id", summary: "Create or replace a geofence", tag, rights: { right: "admin-policies" }, body: GeofencePut }, async (c, { body: b }) => {
      const id = GeofenceId.safeParse(c.req.param("id"));
      if (!id.success) throw notFound(`No geofence ${c.req.param("id")} (ids are 1-64 letters, digits, '-' or '_').`);
      await this.o.db().run(`INSERT OR REPLACE INTO fleet_geofences VALUES ($1, $2, $3, $4)`, [id.data, b.name, JSON.stringify(b.area), Date.now()]);
      this.fences = [...this.fences.filter((f) => f.id !== id.data), { id: id.data, name: b.name, area: b.area as Area }];
      return c.json({ id: id.data, name: b.name, area: b.area });
    });
    api.route({ method: "delete", path: "/api/v1/geofences/:id", summary: "Delete a geofence", tag, rights: { right: "admin-policies" } }, async (c) => {
      const id = c.req.param("id");
      if (!this.fences.some((f) => f.id === id)) throw notFound(`No geofence ${id}.`);
      await this.o.db().run(`DELETE FROM fleet_geofences WHERE id = $1`, [id]);
      await this.o.db().run(`DELETE FROM fleet_geofence_state WHERE geofence_id = $1`, [id]);
      this.fences = this.fences.filter((f) => f.id !== id);
      return c.body(null, 204);
    });
  }
}
