/**
 * Timeline drawing on a canvas, kept free of Preact so it can be benchmarked alone: ranges
 * coloured by where the video is, gaps, retrievals in flight, evidence locks, a time axis
 * with steps from seconds to days, event and alarm markers, the selection and the play cursor. Pixel-snapped and
 * merged per column, so 30 days of 1-minute segments draw in a few milliseconds.
 */
import { gapSentence } from "./ui/words.ts";
import type { Held, Timeline } from "./model.ts";

export const COLORS: Record<Held | "retrieving" | "gap" | "lock" | "selection" | "cursor" | "subOnly", string> = {
  both: "#2fb170",
  central: "#3d8bfd",
  edge: "#e0a526",
  local: "#2fb170",
  retrieving: "#36c5d8",
  gap: "#7a2e35",
  lock: "#b97cf5",
  selection: "rgba(255,255,255,0.16)",
  cursor: "#ff5a5f",
  subOnly: "#9cc3ff",
};

export const HELD_LABEL: Record<Held, string> = { both: "central + edge", central: "central only", edge: "edge only", local: "recorded" };

export interface TimelineView {
  fromMs: number;
  toMs: number;
}

const STEPS = [1e3, 5e3, 10e3, 30e3, 60e3, 5 * 60e3, 10 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3];

export function tickStep(spanMs: number, widthPx: number): number {
  const want = (spanMs / widthPx) * 90; // a label every ~90 px
  return STEPS.find((s) => s >= want) ?? STEPS[STEPS.length - 1]!;
}

function label(t: number, step: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  if (step >= 86400e3) return `${d.getMonth() + 1}/${p(d.getDate())}`;
  if (step < 60e3) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (d.getHours() === 0 && d.getMinutes() === 0) return `${d.getMonth() + 1}/${p(d.getDate())}`;
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A moment on the timeline: an event (motion, input, …) or an alarm (in its priority colour). */
export interface Marker {
  atMs: number;
  kind: "event" | "alarm";
  label: string;
  color?: string;
}

export const EVENT_MARKER_COLOR = "#c9d1dc";

export interface DrawExtras {
  cursorMs?: number | null;
  selection?: { startMs: number; endMs: number } | null;
  locks?: { startMs: number; endMs: number }[];
  markers?: Marker[];
}

/**
 * Markers along the top of the bar: events as thin ticks, alarms as triangles above them.
 * At most one marker of each kind per pixel column (a month of motion events stays cheap).
 * Returns how many were drawn.
 */
export function drawMarkers(ctx: CanvasRenderingContext2D, width: number, view: TimelineView, markers: Marker[], barY: number, barH: number): number {
  const span = view.toMs - view.fromMs;
  const used = new Set<string>();
  let n = 0;
  // events first, so alarms are drawn on top
  for (const kind of ["event", "alarm"] as const) {
    for (const m of markers) {
      if (m.kind !== kind || m.atMs < view.fromMs || m.atMs > view.toMs) continue;
      const px = Math.min(width - 1, Math.floor(((m.atMs - view.fromMs) / span) * width));
      const k = `${kind}${px}`;
      if (used.has(k)) continue;
      used.add(k);
      ctx.fillStyle = m.color ?? (kind === "alarm" ? "#e5484d" : EVENT_MARKER_COLOR);
      if (kind === "event") ctx.fillRect(px, barY, 1, barH * 0.45);
      else {
        ctx.fillRect(px, barY, 2, barH);
        ctx.beginPath();
        ctx.moveTo(px - 5, barY - 7);
        ctx.lineTo(px + 6, barY - 7);
        ctx.lineTo(px + 0.5, barY);
        ctx.closePath();
        ctx.fill();
      }
      n++;
    }
  }
  return n;
}

/** The marker nearest to time t within `tolMs`, if any (for the hover tip). */
export function markerAt(markers: Marker[], t: number, tolMs: number): Marker | null {
  let best: Marker | null = null;
  for (const m of markers) if (Math.abs(m.atMs - t) <= tolMs && (!best || Math.abs(m.atMs - t) < Math.abs(best.atMs - t) || (m.kind === "alarm" && best.kind === "event"))) best = m;
  return best;
}

/** Draws into a context already scaled to CSS pixels; returns the number of bars drawn. */
export function drawTimeline(ctx: CanvasRenderingContext2D, width: number, height: number, view: TimelineView, tl: Timeline, extra: DrawExtras = {}): number {
  const span = view.toMs - view.fromMs;
  const x = (t: number) => ((t - view.fromMs) / span) * width;
  const axisH = 18;
  const barY = axisH + 4;
  const barH = height - barY - 10;
  ctx.fillStyle = "#14181f";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#1b2029";
  ctx.fillRect(0, barY, width, barH);

  // axis
  const step = tickStep(span, width);
  const tz = new Date(view.fromMs).getTimezoneOffset() * 60e3;
  let t = Math.ceil((view.fromMs - tz) / step) * step + tz;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  for (; t <= view.toMs; t += step) {
    const px = Math.round(x(t)) + 0.5;
    ctx.fillStyle = "#2a313c";
    ctx.fillRect(px, axisH - 4, 1, height - axisH + 4);
    ctx.fillStyle = "#8b95a5";
    ctx.fillText(label(t, step), px + 3, axisH / 2);
  }

  let bars = 0;
  const fillMerged = (items: { startMs: number; endMs: number }[], color: (i: number) => string, y: number, h: number) => {
    let curColor = "";
    let cx0 = -1;
    let cx1 = -1;
    const flush = () => {
      if (cx1 > cx0) {
        ctx.fillStyle = curColor;
        ctx.fillRect(cx0, y, cx1 - cx0, h);
        bars++;
      }
    };
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      if (r.endMs < view.fromMs || r.startMs > view.toMs) continue;
      const x0 = Math.max(0, Math.floor(x(r.startMs)));
      const x1 = Math.min(width, Math.max(x0 + 1, Math.ceil(x(r.endMs))));
      const c = color(i);
      if (c === curColor && x0 <= cx1) cx1 = Math.max(cx1, x1);
      else {
        flush();
        curColor = c;
        cx0 = x0;
        cx1 = x1;
      }
    }
    flush();
  };
  fillMerged(tl.gaps, () => COLORS.gap, barY + barH * 0.35, barH * 0.3);
  fillMerged(tl.ranges, (i) => COLORS[tl.ranges[i]!.held], barY, barH);
  // central holds only the sub stream there (a sub-then-main retrieval's first half): a lighter top half
  if (tl.subOnly?.length) fillMerged(tl.subOnly, () => COLORS.subOnly, barY, barH / 2);
  // retrievals: a band along the bottom, filled as far as they got
  for (const r of tl.retrievals) {
    const x0 = x(r.startMs);
    const x1 = x(r.endMs);
    ctx.fillStyle = "rgba(54,197,216,0.25)";
    ctx.fillRect(x0, barY + barH - 6, Math.max(1, x1 - x0), 6);
    ctx.fillStyle = COLORS.retrieving;
    ctx.fillRect(x0, barY + barH - 6, Math.max(1, (x1 - x0) * (r.progress / 100)), 6);
  }
  const locks = [...(extra.locks ?? []), ...tl.ranges.filter((r) => r.locked)];
  fillMerged(locks, () => COLORS.lock, barY, 3);
  if (extra.markers?.length) drawMarkers(ctx, width, view, extra.markers, barY, barH);
  if (extra.selection) {
    const a = x(Math.min(extra.selection.startMs, extra.selection.endMs));
    const b = x(Math.max(extra.selection.startMs, extra.selection.endMs));
    ctx.fillStyle = COLORS.selection;
    ctx.fillRect(a, axisH, Math.max(1, b - a), height - axisH);
    ctx.fillStyle = "#e8edf5";
    ctx.fillRect(a, axisH, 1, height - axisH);
    ctx.fillRect(b, axisH, 1, height - axisH);
  }
  if (extra.cursorMs != null && extra.cursorMs >= view.fromMs && extra.cursorMs <= view.toMs) {
    const cx = Math.round(x(extra.cursorMs));
    ctx.fillStyle = COLORS.cursor;
    ctx.fillRect(cx - 1, axisH - 2, 2, height - axisH + 2);
  }
  return bars;
}

/** What lies under time t: a range (and where it is held), a gap with its reason, or nothing. */
export function describeAt(tl: Timeline, t: number): string {
  const r = tl.retrievals.find((x) => x.startMs <= t && x.endMs >= t);
  if (r) return `being retrieved — ${Math.round(r.progress)} %`;
  const g = tl.gaps.find((x) => x.startMs <= t && x.endMs >= t);
  const rg = tl.ranges.find((x) => x.startMs <= t && x.endMs >= t);
  const sub = tl.subOnly?.some((x) => x.startMs <= t && x.endMs >= t) ? " · central holds the sub stream only" : "";
  if (rg) return `${HELD_LABEL[rg.held]}${sub}${rg.locked ? " · evidence lock" : ""}`;
  if (g) return `no recording — ${gapSentence(g.reason)}`;
  return "no recording";
}

export const MIN_SPAN = 60e3;
export const MAX_SPAN = 30 * 86400e3;

/** Zoom around an anchor time, clamped to 1 minute … 30 days. */
export function zoom(view: TimelineView, factor: number, anchorMs: number): TimelineView {
  const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (view.toMs - view.fromMs) * factor));
  const f = (anchorMs - view.fromMs) / (view.toMs - view.fromMs);
  const fromMs = anchorMs - span * f;
  return { fromMs, toMs: fromMs + span };
}
