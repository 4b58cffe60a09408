/**
 * Saved live views per user ("view update" flow): a view is a named grid layout with the
 * camera (and stream) in each tile, stored in central's database (central/db), and pushed over SSE to every
 * other client of the same user when it changes. Additive routes under /api/v1/views.
 */
import { z } from "zod";
import { streamSSE } from "hono/streaming";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { iso, type Clock } from "../../lib/clock.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Database } from "../db/index.ts";

const ViewName = z.string().trim().min(1, "a view needs a name").max(100).regex(/^[^/\\]+$/, "view names cannot contain slashes");
const Tile = z.object({ camera: z.string().min(1).max(300), stream: z.enum(["main", "sub"]).default("main") }).nullable();
export const ViewBody = z
  .object({
    layout: z.union([z.literal(1), z.literal(4), z.literal(9), z.literal(16)]),
    tiles: z.array(Tile).max(16),
  })
  .refine((v) => v.tiles.length <= v.layout, { message: "a view has at most as many tiles as its layout" });
export const View = z.object({ name: z.string(), layout: z.number(), tiles: z.array(Tile), updatedAt: z.string() });
export type View = z.infer<typeof View>;

type Listener = (kind: "saved" | "deleted", view: View, origin: string | null) => void;

export class Views {
  private listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async list(user: string): Promise<View[]> {
    const rows = await this.db.query<{ name: string; body: string; u: number }>(`SELECT name, body, updated_ms AS u FROM web_views WHERE user_name = $1 ORDER BY name`, [user]);
    return rows.map((r) => ({ name: r.name, ...(JSON.parse(r.body) as { layout: number; tiles: View["tiles"] }), updatedAt: iso(Number(r.u)) }));
  }

  async save(user: string, name: string, body: z.infer<typeof ViewBody>, origin: string | null): Promise<View> {
    const now = this.clock.now();
    await this.db.run(`INSERT INTO web_views (user_name, name, body, updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (user_name, name) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms`, [user, name, JSON.stringify(body), now]);
    const v: View = { name, layout: body.layout, tiles: body.tiles, updatedAt: iso(now) };
    this.emit(user, "saved", v, origin);
    return v;
  }

  async remove(user: string, name: string, origin: string | null): Promise<boolean> {
    if ((await this.db.run(`DELETE FROM web_views WHERE user_name = $1 AND name = $2`, [user, name])) === 0) return false;
    this.emit(user, "deleted", { name, layout: 0, tiles: [], updatedAt: iso(this.clock.now()) }, origin);
    return true;
  }

  subscribe(user: string, l: Listener): () => void {
    let set = this.listeners.get(user);
    if (!set) this.listeners.set(user, (set = new Set()));
    set.add(l);
    return () => set.delete(l);
  }

  private emit(user: string, kind: "saved" | "deleted", v: View, origin: string | null): void {
    for (const l of this.listeners.get(user) ?? []) l(kind, v, origin);
  }
}

/** x-outpost-client: the saving tab's id, echoed in the SSE message so that tab can ignore its own change. */
const origin = (h: string | undefined) => (h && /^[A-Za-z0-9_-]{1,64}$/.test(h) ? h : null);

export function mountViews(api: ApiRouter, views: Views): void {
  const tag = "views";
  api.route({ method: "get", path: "/api/v1/views", summary: "Your saved live views (grid layout and the camera in each tile)", tag, rights: { user: "self" }, response: z.object({ views: z.array(View) }) }, async (c) =>
    c.json({ views: await views.list(c.var.session.user) }),
  );
  api.route(
    { method: "get", path: "/api/v1/views/stream", summary: "Server-Sent Events: 'view' with {kind: saved|deleted, view, origin} when one of your views changes in any client", tag, rights: { user: "self" }, produces: "text/event-stream" },
    (c) =>
      streamSSE(c, async (stream) => {
        let done!: () => void;
        const ended = new Promise<void>((r) => (done = r));
        const off = views.subscribe(c.var.session.user, (kind, view, o) => {
          void stream.writeSSE({ event: "view", data: JSON.stringify({ kind, view, origin: o }) }).catch(done);
        });
        // under Bun.serve's 10 s idle timeout, so a quiet stream stays open
        const ping = setInterval(() => void stream.write(": ping\n\n").catch(done), 5_000);
        stream.onAbort(done);
        await stream.writeSSE({ event: "ready", data: "{}" });
        await ended;
        clearInterval(ping);
        off();
      }),
  );
  api.route({ method: "put", path: "/api/v1/views/:name", summary: "Save a view (layout 1, 4, 9 or 16; tiles in reading order, null = empty)", tag, rights: { user: "self" }, body: ViewBody, response: View }, async (c, { body }) => {
    const name = ViewName.safeParse(c.req.param("name"));
    if (!name.success) throw badRequest(`${name.error.issues[0]!.message}.`);
    return c.json(await views.save(c.var.session.user, name.data, body, origin(c.req.header("x-outpost-client"))));
  });
  api.route({ method: "delete", path: "/api/v1/views/:name", summary: "Delete one of your views", tag, rights: { user: "self" }, status: 204 }, async (c) => {
    if (!(await views.remove(c.var.session.user, c.req.param("name")!, origin(c.req.header("x-outpost-client"))))) throw notFound(`You have no view named ${c.req.param("name")}.`);
    return c.body(null, 204);
  });
}
