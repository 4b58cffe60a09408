/**
 * Same-frame latency for bench/live.bench.ts: pairs each frame a viewer received (fragment
 * decode time + sample index) with the same frame at the direct RTSP reader (RTP timestamp),
 * and returns viewer arrival − reader arrival. Runnable on a dump (LIVE_BENCH_DUMP) to re-check:
 * `bun bench/lib/live-analysis.ts /tmp/dump.json`. Owns only this arithmetic.
 *
 * Mapping: decode time = RTP time − a per-camera constant (edge/ingest/native/fragmenter.ts,
 * 90 kHz, central's hub keeps it unless the source restarts). The constant is found from
 * central's keyframe fragments: each was cut at the edge (capturedAt) about one fragment
 * duration after its keyframe reached the edge, so the reader's keyframe nearest that instant
 * gives a candidate; the most common candidate wins (the first fragments after an uplink
 * starts may be re-timed), and every keyframe is checked against it (anchorsOk / anchorsChecked).
 */
export type Au = { cam: string; rtp: number; key: boolean; at: number };
export type Frag = { cam: string; startMs: number; durMs: number; n: number; key: boolean; at: number };
export type Cap = { startMs: number; durationMs: number; capturedAt: number };

/** The first fragments a viewer gets are the cached GOP, captured before it connected. */
export const WARMUP_MS = 5000;

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : NaN);

export interface SameFrame {
  frames: number;
  p50: number;
  p95: number;
  max: number;
  /** p50 over only the last frame of each fragment: transport without the wait for the fragment to fill. */
  lastFrameP50: number;
  anchorsChecked: number;
  anchorsOk: number;
}

/** Per-frame (viewer − floor) arrival for frames whose floor arrival is in [from, to). */
export function sameFrame(d: { aus: Map<string, Au[]>; caps: Map<string, Cap[]> }, src: Map<string, Frag[]>, from: number, to: number): SameFrame {
  const out: number[] = [];
  const lastOut: number[] = [];
  let anchors = 0;
  let anchorOk = 0;
  for (const [cam, frags] of src) {
    let ext = 0;
    let prev = -1;
    const ms = (d.aus.get(cam) ?? []).map((a) => {
      if (prev >= 0 && a.rtp < prev && prev - a.rtp > 2 ** 31) ext += 2 ** 32;
      prev = a.rtp;
      return { ...a, ms: (a.rtp + ext) / 90 };
    });
    const keys = ms.filter((a) => a.key);
    const hubKeys = (d.caps.get(cam) ?? []).filter((h) => keys.length && h.capturedAt > keys[0]!.at && h.capturedAt < keys[keys.length - 1]!.at + 1000);
    if (!hubKeys.length) continue;
    const votes = new Map<number, number>();
    for (const h of hubKeys) {
      const t = h.capturedAt - h.durationMs;
      const k = keys.reduce((b, a) => (Math.abs(a.at - t) < Math.abs(b.at - t) ? a : b));
      const off = Math.round(h.startMs - k.ms);
      votes.set(off, (votes.get(off) ?? 0) + 1);
    }
    const off = [...votes].sort((a, b) => b[1] - a[1])[0]![0];
    for (const h of hubKeys) {
      anchors++;
      if (keys.some((a) => Math.abs(a.ms + off - h.startMs) < 2)) anchorOk++;
    }
    const find = (x: number) => {
      let lo = 0;
      let hi = ms.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ms[mid]!.ms < x) lo = mid + 1;
        else hi = mid;
      }
      for (const j of [lo - 1, lo]) if (ms[j] && Math.abs(ms[j]!.ms - x) < 5) return ms[j];
      return undefined;
    };
    const first = frags[0]?.at ?? 0;
    for (const f of frags) {
      if (f.at < first + WARMUP_MS) continue;
      for (let i = 0; i < f.n; i++) {
        const a = find(f.startMs + (i * f.durMs) / f.n - off);
        if (a && a.at >= from && a.at < to) {
          out.push(f.at - a.at);
          if (i === f.n - 1) lastOut.push(f.at - a.at);
        }
      }
    }
  }
  return { frames: out.length, p50: Math.round(pct(out, 0.5)), p95: Math.round(pct(out, 0.95)), max: Math.round(out.length ? Math.max(...out) : NaN), lastFrameP50: Math.round(pct(lastOut, 0.5)), anchorsChecked: anchors, anchorsOk: anchorOk };
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: live-analysis.ts DUMP.json");
    process.exit(2);
  }
  const j = (await Bun.file(file).json()) as { aus: [string, Au[]][]; ws: [string, Frag[]][]; hls: [string, Frag[]][]; caps: [string, Cap[]][] };
  const d = { aus: new Map(j.aus), caps: new Map(j.caps) };
  console.log(JSON.stringify({ ws: sameFrame(d, new Map(j.ws), 0, Infinity), hls: sameFrame(d, new Map(j.hls), 0, Infinity) }));
}
