/**
 * The edge's own view of its transfer queue on its local API (session required):
 *   GET /api/v1/transfers → link, connected, measured bytes/s, uploads running now, the queue
 *   (by class and its first items, most urgent first), this month's bytes per link, budget state.
 * Not enrolled (no transfer engine) answers `enrolled: false` with an empty queue.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { iso } from "../../lib/clock.ts";
import type { EdgeTransferStatus } from "./engine.ts";

const Item = z.object({ cameraId: z.string(), stream: z.string(), start: z.string(), end: z.string().optional(), class: z.string(), bytes: z.number(), sentBytes: z.number() });

export const TransfersOut = z.object({
  enrolled: z.boolean(),
  link: z.string().nullable(),
  connected: z.boolean(),
  bytesPerSecond: z.number().nullable().describe("measured upload goodput over the last seconds of sending; null when idle"),
  current: z.array(Item.extend({ progress: z.number().describe("percent of the segment at central or on its way") })),
  queue: z.object({
    items: z.number(),
    bytes: z.number().describe("bytes still to send"),
    byClass: z.record(z.string(), z.object({ items: z.number(), bytes: z.number() })),
    next: z.array(Item).describe("first queued items, most urgent first (at most 100)"),
  }),
  usage: z.object({ month: z.string(), byLink: z.record(z.string(), z.number()) }).nullable(),
  budgetBlocked: z.boolean(),
  stats: z.record(z.string(), z.number()),
});
export type TransfersOut = z.infer<typeof TransfersOut>;

export function transfersView(st: EdgeTransferStatus | null): TransfersOut {
  if (!st) return { enrolled: false, link: null, connected: false, bytesPerSecond: null, current: [], queue: { items: 0, bytes: 0, byClass: {}, next: [] }, usage: null, budgetBlocked: false, stats: {} };
  return {
    enrolled: true,
    link: st.link,
    connected: st.connected,
    bytesPerSecond: st.bytesPerSecond === null ? null : Math.round(st.bytesPerSecond),
    current: st.running.map((r) => ({ cameraId: r.cameraId, stream: r.stream, start: iso(r.startMs), class: r.cls, bytes: r.bytes, sentBytes: r.offset, progress: r.bytes ? Math.round((1000 * r.offset) / r.bytes) / 10 : 0 })),
    queue: {
      items: st.queued,
      bytes: st.queuedBytes,
      byClass: st.byClass,
      next: st.queue.map((q) => ({ cameraId: q.cameraId, stream: q.stream, start: iso(q.startMs), end: iso(q.endMs), class: q.cls, bytes: q.bytes, sentBytes: q.offset })),
    },
    usage: st.usage,
    budgetBlocked: st.budgetBlocked,
    stats: st.stats,
  };
}

/** Mounts GET /api/v1/transfers; `status` reads the current engine (it is replaced when the certificate rotates). */
export function mountTransfers(app: Hono<any>, auth: MiddlewareHandler<any>, status: () => EdgeTransferStatus | null): void {
  app.get("/api/v1/transfers", auth, (c) => c.json(transfersView(status())));
}
