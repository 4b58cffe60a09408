/**
 * Index-first sync: publishes the store's index (closed segments, closed gaps, evidence locks)
 * incrementally with per-stream watermarks, and a periodic per-day digest that central
 * compares with its mirror to find drift (then asks for a day with "index-resync").
 * Watermarks move only after the message is durable in the outbox; a crash in between
 * re-sends, and central's upsert makes that harmless.
 */
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore, RetentionPolicy, SegmentSpans, StreamKind } from "../../lib/store/index.ts";
import { DAY_MS, digestDays, segmentDays, type SegmentDay, type UpBody } from "../../federation/protocol/index.ts";
import type { Outbox } from "./outbox.ts";
import { readJsonState, writeJsonState } from "./state.ts";

/** Segments per index message: keeps any one MQTT message small on a slow link. */
const CHUNK = 500;

interface SyncState {
  seg: Record<string, number>;
  gap: Record<string, number>;
  locks: Record<string, string>;
}

type Seg = [number, number, number];
type Gap = [number, number, UpBody<"index">["gaps"][number][2]];

/** The [start, end, bytes] of the spans whose start passes `keep`. */
function segsOf(sp: SegmentSpans, keep: (startMs: number) => boolean): Seg[] {
  const out: Seg[] = [];
  for (let i = 0; i < sp.start.length; i++) if (keep(sp.start[i]!)) out.push([sp.start[i]!, sp.end[i]!, sp.bytes[i]!]);
  return out;
}

export interface SyncDeps {
  dir: string;
  store: MediaStore;
  outbox: Outbox;
  clock: Clock;
  log: Logger;
  shared: (cameraId: string) => boolean;
  retention?: (cameraId: string) => RetentionPolicy;
}

export class IndexSync {
  private state: SyncState = { seg: {}, gap: {}, locks: {} };
  private readonly file: string;

  constructor(private readonly d: SyncDeps) {
    this.file = join(d.dir, "sync.json");
  }

  async load(): Promise<void> {
    this.state = await readJsonState<SyncState>(this.file, { seg: {}, gap: {}, locks: {} });
  }

  private async streams(): Promise<{ cameraId: string; stream: StreamKind; firstMs: number; lastMs: number; bytes: number }[]> {
    return (await this.d.store.cameras()).filter((c) => this.d.shared(c.cameraId));
  }

  /** One incremental pass: new closed segments and gaps, changed lock sets. */
  async tick(): Promise<number> {
    const now = this.d.clock.now();
    let sent = 0;
    let dirty = false;
    for (const c of await this.streams()) {
      const key = `${c.cameraId}/${c.stream}`;
      const wmS = this.state.seg[key] ?? -1;
      const wmG = this.state.gap[key] ?? 0;
      const newSegs: Seg[] = wmS + 1 < now + 1 ? segsOf(await this.d.store.spans({ cameraId: c.cameraId, stream: c.stream, fromMs: wmS + 1, toMs: now + 1 }), (start) => start > wmS) : [];
      const newGaps: Gap[] = [];
      if (wmG < now) {
        const tl = await this.d.store.timeline({ cameraId: c.cameraId, stream: c.stream, fromMs: wmG, toMs: now }, { segments: false });
        // An open gap reaches `now`; it is sent once it closes. A gap clipped at wmG was sent before.
        for (const g of tl.gaps) if (g.endMs < now && g.startMs > wmG - (wmG === 0 ? 1 : 0) && g.endMs > wmG) newGaps.push([g.startMs, g.endMs, g.reason]);
      }
      if (!newSegs.length && !newGaps.length) continue;
      for (let i = 0; i < Math.max(newSegs.length, newGaps.length); i += CHUNK) {
        await this.d.outbox.append("index", { cameraId: c.cameraId, stream: c.stream, segments: newSegs.slice(i, i + CHUNK), gaps: newGaps.slice(i, i + CHUNK) });
        sent++;
      }
      if (newSegs.length) this.state.seg[key] = newSegs[newSegs.length - 1]![0];
      if (newGaps.length) this.state.gap[key] = Math.max(wmG, ...newGaps.map((g) => g[1]));
      dirty = true;
    }
    const locks = await this.d.store.locks();
    const byCam = new Map<string, UpBody<"locks">["locks"]>();
    for (const l of locks) {
      if (!this.d.shared(l.cameraId)) continue;
      const arr = byCam.get(l.cameraId) ?? [];
      arr.push({ id: l.id, startMs: l.startMs, endMs: l.endMs, reason: l.reason, ...(l.expiresAtMs !== undefined ? { expiresAtMs: l.expiresAtMs } : {}) });
      byCam.set(l.cameraId, arr);
    }
    for (const cam of new Set([...byCam.keys(), ...Object.keys(this.state.locks)])) {
      const list = byCam.get(cam) ?? [];
      const h = JSON.stringify(list);
      if ((this.state.locks[cam] ?? "[]") === h) continue;
      await this.d.outbox.append("locks", { cameraId: cam, locks: list });
      this.state.locks[cam] = h;
      dirty = true;
      sent++;
    }
    if (dirty) await writeJsonState(this.file, this.state);
    return sent;
  }

  private async collect(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, key: string): Promise<{ segs: Seg[]; gaps: Gap[]; segCut: number; gapCut: number }> {
    const segCut = this.state.seg[key] ?? -1;
    const segs = segsOf(await this.d.store.spans({ cameraId, stream, fromMs, toMs }), (start) => start >= fromMs && start <= segCut);
    return { segs, segCut, ...(await this.gapsSent(cameraId, stream, fromMs, toMs, key)) };
  }

  /** The gaps of [from, to) sent so far (up to the gap watermark). */
  private async gapsSent(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, key: string): Promise<{ gaps: Gap[]; gapCut: number }> {
    const gapCut = this.state.gap[key] ?? 0;
    const tl = await this.d.store.timeline({ cameraId, stream, fromMs: Math.max(0, fromMs - 86_400_000), toMs: Math.max(toMs, gapCut + 1) }, { segments: false });
    const gaps: Gap[] = tl.gaps.filter((g) => g.startMs >= fromMs && g.startMs < toMs && g.endMs <= gapCut).map((g) => [g.startMs, g.endMs, g.reason]);
    return { gaps, gapCut };
  }

  /** Digest of what was sent (up to the watermarks), with the retention horizon per stream. */
  async digest(): Promise<void> {
    await this.tick();
    const now = this.d.clock.now();
    const streams: UpBody<"digest">["streams"] = [];
    const all = await this.streams();
    for (const c of all) {
      const key = `${c.cameraId}/${c.stream}`;
      const segCut = this.state.seg[key] ?? -1;
      const { gaps, gapCut } = await this.gapsSent(c.cameraId, c.stream, 0, now + 1, key);
      const days = await this.segmentDays({ cameraId: c.cameraId, stream: c.stream, fromMs: 0, toMs: now + 1 }, segCut, gaps);
      streams.push({ cameraId: c.cameraId, stream: c.stream, horizonMs: this.horizon(c.cameraId, all), segCutoffMs: segCut, gapCutoffMs: gapCut, days: digestDays(days, gaps) });
    }
    if (streams.length) await this.d.outbox.append("digest", { streams });
  }

  /**
   * A stream's segments by day for the digest — its whole history, every digestMs: counted and
   * hashed by the index (30 rows for 30 days, not 43,200), with the lines of the days that have
   * gaps (their lines hash together); made from spans() where the index cannot.
   */
  private async segmentDays(q: { cameraId: string; stream: StreamKind; fromMs: number; toMs: number }, segCut: number, gaps: Gap[]): Promise<SegmentDay[]> {
    const fromSpans = async () => segmentDays(segsOf(await this.d.store.spans(q), (start) => start >= q.fromMs && start <= segCut));
    const hashed = await this.d.store.segmentDays(q, segCut);
    if (!hashed) return fromSpans();
    const gapDays = new Set(gaps.map(([start]) => Math.floor(start / DAY_MS) * DAY_MS));
    const out: SegmentDay[] = [];
    for (const d of hashed) {
      if (!gapDays.has(d.day)) out.push(d);
      else {
        const [withLines] = (await this.d.store.segmentDays(q, segCut, { lines: true, day: d.day })) ?? [];
        if (!withLines) return fromSpans(); // changed in between
        out.push(withLines);
      }
    }
    return out;
  }

  /** Central found drift in [fromMs, toMs): send that window whole, replacing central's copy. */
  async resync(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<void> {
    if (!this.d.shared(cameraId)) return;
    const key = `${cameraId}/${stream}`;
    const { segs, gaps } = await this.collect(cameraId, stream, fromMs, toMs, key);
    const n = Math.max(1, Math.ceil(Math.max(segs.length, gaps.length) / CHUNK));
    for (let i = 0; i < n; i++) {
      await this.d.outbox.append("index", {
        cameraId,
        stream,
        ...(i === 0 ? { replace: { fromMs, toMs } } : {}),
        segments: segs.slice(i * CHUNK, (i + 1) * CHUNK),
        gaps: gaps.slice(i * CHUNK, (i + 1) * CHUNK),
      });
    }
    this.d.log.info("index window re-sent for digest repair", { camera: cameraId, stream, fromMs, toMs, segments: segs.length, gaps: gaps.length });
  }

  /** When footage recorded now is expected to be overwritten: age limit, or byte limits at the recent rate. */
  private horizon(cameraId: string, all: { cameraId: string; firstMs: number; lastMs: number; bytes: number }[]): number | null {
    const p = this.d.retention?.(cameraId) ?? {};
    const cands: number[] = [];
    if (p.maxAgeMs) cands.push(p.maxAgeMs);
    const mine = all.filter((c) => c.cameraId === cameraId);
    const rate = (xs: typeof all) => {
      const bytes = xs.reduce((a, c) => a + c.bytes, 0);
      const span = Math.max(...xs.map((c) => c.lastMs)) - Math.min(...xs.map((c) => c.firstMs));
      return span > 0 ? bytes / span : 0;
    };
    if (p.maxBytes && mine.length) {
      const r = rate(mine);
      if (r > 0) cands.push(Math.round(p.maxBytes / r));
    }
    if (this.d.store.maxTotalBytes && all.length) {
      const r = rate(all);
      if (r > 0) cands.push(Math.round(this.d.store.maxTotalBytes / r));
    }
    const h = cands.length ? Math.min(...cands) : null;
    return h && h > 0 ? h : null;
  }
}
