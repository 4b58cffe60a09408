/**
 * "See before you pull" under central's timeline: a strip of the edge's thumbnails and an
 * activity band for the visible window (from previews central holds — no edge is asked), a
 * larger picture of the moment under the pointer, previous/next activity (moves the view, pulls
 * nothing), and what retrieving the selected range would cost before it starts.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api.ts";
import type { TimelineView } from "../timeline-draw.ts";
import { fmtTime } from "./common.tsx";

type PreviewData = { thumbnails: { atMs: number; sha256: string }[]; activity: { fromMs: number; stepMs: number; levels: (number | null)[] } };
type Step = { startMs: number; endMs: number; peak: number };
type Estimate = { streams: Record<string, { bytes: number; text: string; fits: boolean }>; qualities?: Record<string, { bytes: number; text: string; fits: boolean }> };

const THUMB_W = 64;
const BAND_H = 10;

export function PreviewStrip(p: { cameraId: string; view: TimelineView; onView: (v: TimelineView) => void; cursorMs: number | null; selection: { startMs: number; endMs: number } | null }) {
  const wrap = useRef<HTMLDivElement>(null);
  const band = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(800);
  const [data, setData] = useState<PreviewData | null>(null);
  const [missing, setMissing] = useState(false);
  const [hover, setHover] = useState<{ x: number; t: number } | null>(null);
  const [note, setNote] = useState("");
  const [estimate, setEstimate] = useState<Estimate | null>(null);
  const [tick, setTick] = useState(0);
  const span = p.view.toMs - p.view.fromMs;
  const enc = encodeURIComponent(p.cameraId);

  useEffect(() => {
    const ro = new ResizeObserver((es) => setWidth(Math.max(200, Math.floor(es[0]!.contentRect.width))));
    if (wrap.current) ro.observe(wrap.current);
    const t = setInterval(() => setTick((n) => n + 1), 10_000);
    return () => {
      ro.disconnect();
      clearInterval(t);
    };
  }, []);
  useEffect(() => {
    const t = setTimeout(() => {
      const step = Math.max(1, Math.ceil(span / width / 1000));
      const q = new URLSearchParams({ from: new Date(p.view.fromMs).toISOString(), to: new Date(p.view.toMs).toISOString(), step: String(step), limit: String(Math.max(1, Math.floor(width / THUMB_W))) });
      api<PreviewData>("GET", `/api/v1/cameras/${enc}/preview?${q}`).then(
        (d) => setData(d),
        (e) => setMissing(e instanceof ApiError && e.missing),
      );
    }, 200);
    return () => clearTimeout(t);
  }, [p.cameraId, p.view.fromMs, p.view.toMs, width, tick]);
  useEffect(() => {
    const c = band.current;
    if (!c || !data) return;
    const dpr = devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = BAND_H * dpr;
    const ctx = c.getContext("2d")!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, BAND_H);
    const a = data.activity;
    a.levels.forEach((l, i) => {
      if (l === null) return;
      const x0 = ((a.fromMs + i * a.stepMs - p.view.fromMs) / span) * width;
      const x1 = ((a.fromMs + (i + 1) * a.stepMs - p.view.fromMs) / span) * width;
      ctx.fillStyle = l >= 5 ? `rgba(230, 120, 20, ${0.35 + (0.65 * l) / 100})` : "rgba(120, 140, 160, 0.25)";
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), BAND_H);
    });
  }, [data, width, p.view.fromMs, p.view.toMs]);
  // The cost of pulling the selected range, per stream, before anyone starts it.
  useEffect(() => {
    setEstimate(null);
    if (!p.selection) return;
    const q = new URLSearchParams({ from: new Date(p.selection.startMs).toISOString(), to: new Date(p.selection.endMs).toISOString() });
    api<Estimate>("GET", `/api/v1/cameras/${enc}/retrieval-estimate?${q}`).then(setEstimate, () => setEstimate(null));
  }, [p.cameraId, p.selection?.startMs, p.selection?.endMs]);

  if (missing) return null;
  const thumbs: PreviewData["thumbnails"] = [];
  for (const t of data?.thumbnails ?? []) {
    const x = ((t.atMs - p.view.fromMs) / span) * width;
    const last = thumbs.at(-1);
    if (!last || x - ((last.atMs - p.view.fromMs) / span) * width >= THUMB_W + 2) thumbs.push(t);
  }
  const step = async (direction: "next" | "previous") => {
    const at = p.cursorMs ?? (p.view.fromMs + p.view.toMs) / 2;
    try {
      const r = await api<Step>("GET", `/api/v1/cameras/${enc}/activity/step?at=${Math.round(at)}&direction=${direction}`);
      setNote(`${direction === "next" ? "Next" : "Previous"} activity ${fmtTime(r.startMs)} (level ${r.peak})`);
      const mid = (r.startMs + r.endMs) / 2;
      p.onView({ fromMs: mid - span / 2, toMs: mid + span / 2 });
    } catch (e) {
      setNote(e instanceof ApiError && e.status === 404 ? `No ${direction} activity in the previews central holds.` : (e as Error).message);
    }
  };
  const tAt = (x: number) => p.view.fromMs + (x / width) * span;
  return (
    <div class="preview-strip" ref={wrap} data-thumbs={thumbs.length} data-active={data?.activity.levels.filter((l) => (l ?? 0) >= 5).length ?? 0} style={{ position: "relative", marginTop: "4px", overflowX: "clip" }}>
      <div
        style={{ position: "relative", height: "36px", overflow: "hidden", background: "rgba(0,0,0,0.15)" }}
        aria-label="Thumbnails of the footage (from the edge's previews)"
        onPointerMove={(e) => setHover({ x: (e as unknown as PointerEvent).offsetX + ((e.target as HTMLElement).offsetLeft ?? 0), t: tAt((e as unknown as PointerEvent).clientX - (wrap.current?.getBoundingClientRect().left ?? 0)) })}
        onPointerLeave={() => setHover(null)}
      >
        {thumbs.map((t) => (
          <img
            key={t.sha256}
            src={`/api/v1/cameras/${enc}/preview/thumbnail?at=${t.atMs}`}
            alt={`picture at ${fmtTime(t.atMs)}`}
            style={{ position: "absolute", left: `${((t.atMs - p.view.fromMs) / span) * width}px`, top: "0", width: `${THUMB_W}px`, height: "36px", objectFit: "cover", pointerEvents: "none" }}
          />
        ))}
      </div>
      <canvas ref={band} style={{ width: `${width}px`, height: `${BAND_H}px`, display: "block" }} aria-label="Activity (orange: something moves)" />
      {hover && (
        <div class="tl-tip" style={{ left: `${Math.max(0, Math.min(hover.x + 12, width - 180))}px`, bottom: "52px", top: "auto" }}>
          <img src={`/api/v1/cameras/${enc}/preview/thumbnail?at=${Math.round(hover.t)}`} alt="" style={{ width: "160px", display: "block" }} />
          <strong>{fmtTime(hover.t)}</strong>
        </div>
      )}
      <div class="selection-bar">
        <button onClick={() => void step("previous")}>◀ Previous activity</button>
        <button onClick={() => void step("next")}>Next activity ▶</button>
        <span class="muted small">{note}</span>
        {estimate && (
          <span class="small" data-estimate>
            Retrieval of the selection: main {estimate.streams.main?.text}; sub {estimate.streams.sub?.text}
            {estimate.qualities?.["sub-then-main"] && `; sub, then main ${estimate.qualities["sub-then-main"].text}`}
          </span>
        )}
      </div>
    </div>
  );
}
