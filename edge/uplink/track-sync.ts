/**
 * Track sync, index-first like the segment index: the kept track points after a watermark go to
 * central in chunks (at most `chunkPoints` points or `chunkMs` of track per message), on the
 * critical lane (never dropped). A chunk is sent when it is full or its first point is
 * `chunkMs` old, so central stores a few rows per vehicle-hour, not one per point; the live
 * position travels separately (telemetry "position", droppable). The watermark moves only after
 * the chunk is durable in the outbox; a crash in between re-sends, central's upsert by
 * point time makes that harmless. Each chunk repeats the previous chunk's last point first, so
 * every line piece of the track lies inside one chunk (central tests pieces against areas).
 */
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { UpBody } from "../../federation/protocol/index.ts";
import type { Outbox } from "./outbox.ts";
import { readJsonState, writeJsonState } from "./state.ts";

export type TrackPointTuple = UpBody<"track">["points"][number];

export interface TrackSource {
  /** Kept points with atMs > afterMs, oldest first, at most `limit`. */
  after(afterMs: number, limit: number): Promise<TrackPointTuple[]>;
}

export class TrackSync {
  private wm = -1;
  private last: TrackPointTuple | null = null;
  private readonly file: string;
  /** Bytes of track messages handed to the outbox (payload JSON), for the link-cost report. */
  bytesSent = 0;
  chunksSent = 0;

  constructor(
    private readonly d: { dir: string; outbox: Outbox; clock: Clock; source: TrackSource; chunkPoints?: number; chunkMs?: number },
  ) {
    this.file = join(d.dir, "track-sync.json");
  }

  async load(): Promise<void> {
    const st = await readJsonState<{ wm: number; last?: TrackPointTuple | null }>(this.file, { wm: -1 });
    this.wm = st.wm;
    this.last = st.last ?? null;
  }

  /** Sends every full or old-enough chunk; `all` also sends the last partial one (parking, stop, tests). */
  async tick(all = false): Promise<number> {
    const max = this.d.chunkPoints ?? 120;
    const span = this.d.chunkMs ?? 300_000;
    let sent = 0;
    for (;;) {
      const pts = await this.d.source.after(this.wm, max);
      if (!pts.length) break;
      let n = pts.findIndex((p) => p[0] - pts[0]![0] >= span);
      if (n < 0) n = pts.length;
      const full = n < pts.length || n === max;
      if (!full && !all && this.d.clock.now() - pts[0]![0] < span) break;
      const chunk = pts.slice(0, n);
      // the previous chunk's last point joins the pieces (only when it is recent: a day-old one would stretch the chunk)
      const body = { points: this.last && chunk.at(-1)![0] - this.last[0] <= 600_000 ? [this.last, ...chunk] : chunk };
      await this.d.outbox.append("track", body);
      this.bytesSent += JSON.stringify(body).length;
      this.chunksSent++;
      this.wm = chunk.at(-1)![0];
      this.last = chunk.at(-1)!;
      await writeJsonState(this.file, { wm: this.wm, last: this.last });
      sent++;
    }
    return sent;
  }
}
