/** Interactive timeline: wheel to zoom (1 min – 30 days), drag to pan, click to play, shift+drag (or the keyboard) to select a range; event and alarm markers. */
import { useEffect, useRef, useState } from "preact/hooks";
import type { Timeline } from "../model.ts";
import { COLORS, EVENT_MARKER_COLOR, HELD_LABEL, describeAt, drawTimeline, markerAt, zoom, type Marker, type TimelineView } from "../timeline-draw.ts";
import { fmtTime } from "./common.tsx";

export interface TimelineProps {
  view: TimelineView;
  onView: (v: TimelineView) => void;
  data: Timeline;
  cursorMs: number | null;
  selection: { startMs: number; endMs: number } | null;
  onSelect: (s: { startMs: number; endMs: number } | null) => void;
  onSeek: (t: number) => void;
  locks: { startMs: number; endMs: number }[];
  central: boolean;
  /** Events and alarms of this camera in view (web/ui/markers.ts). */
  markers?: Marker[];
}

export function TimelineBar(p: TimelineProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [hover, setHover] = useState<{ x: number; t: number } | null>(null);
  /** The keyboard's point on the timeline (arrows move it, Enter plays from it, Shift+arrows select). */
  const [keyMs, setKeyMs] = useState<number | null>(null);
  const anchor = useRef<number | null>(null);
  const drag = useRef<{ x0: number; view: TimelineView; select: boolean; moved: boolean; t0: number } | null>(null);
  const H = 74;

  useEffect(() => {
    const ro = new ResizeObserver((es) => setWidth(Math.max(200, Math.floor(es[0]!.contentRect.width))));
    if (wrap.current) ro.observe(wrap.current);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = H * dpr;
    const ctx = c.getContext("2d")!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawTimeline(ctx, width, H, p.view, p.data, { cursorMs: keyMs ?? p.cursorMs, selection: p.selection, locks: p.locks, markers: p.markers });
  }, [width, p.view, p.data, p.cursorMs, p.selection, p.locks, p.markers, keyMs]);

  const tAt = (clientX: number) => {
    const r = canvas.current!.getBoundingClientRect();
    return p.view.fromMs + ((clientX - r.left) / r.width) * (p.view.toMs - p.view.fromMs);
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    p.onView(zoom(p.view, e.deltaY > 0 ? 1.25 : 0.8, tAt(e.clientX)));
  };
  useEffect(() => {
    const c = canvas.current;
    c?.addEventListener("wheel", onWheel, { passive: false });
    return () => c?.removeEventListener("wheel", onWheel);
  });
  const onDown = (e: PointerEvent) => {
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    drag.current = { x0: e.clientX, view: p.view, select: e.shiftKey, moved: false, t0: tAt(e.clientX) };
  };
  const onMove = (e: PointerEvent) => {
    setHover({ x: e.offsetX, t: tAt(e.clientX) });
    const d = drag.current;
    if (!d) return;
    if (Math.abs(e.clientX - d.x0) > 3) d.moved = true;
    if (!d.moved) return;
    if (d.select) p.onSelect({ startMs: Math.min(d.t0, tAt(e.clientX)), endMs: Math.max(d.t0, tAt(e.clientX)) });
    else {
      const r = canvas.current!.getBoundingClientRect();
      const dt = ((e.clientX - d.x0) / r.width) * (d.view.toMs - d.view.fromMs);
      p.onView({ fromMs: d.view.fromMs - dt, toMs: d.view.toMs - dt });
    }
  };
  const onUp = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (d && !d.moved) {
      setKeyMs(null);
      p.onSeek(tAt(e.clientX));
    }
  };
  /**
   * Keyboard: ←/→ move the point by 1/50 of the view (Ctrl: 1/5), Shift+←/→ select from where
   * the selection began, Enter or Space play from the point, Esc clears the selection,
   * PageUp/PageDown pan, + and − zoom, Home/End jump to the first/last recording.
   */
  const onKey = (e: KeyboardEvent) => {
    const span = p.view.toMs - p.view.fromMs;
    const mid = (p.view.fromMs + p.view.toMs) / 2;
    const at = keyMs ?? p.cursorMs ?? mid;
    const moveTo = (t: number) => {
      setKeyMs(t);
      if (t < p.view.fromMs || t > p.view.toMs) p.onView({ fromMs: t - span / 2, toMs: t + span / 2 });
      if (e.shiftKey) {
        anchor.current ??= at;
        p.onSelect({ startMs: Math.min(anchor.current, t), endMs: Math.max(anchor.current, t) });
      } else anchor.current = null;
    };
    const stepMs = span / (e.ctrlKey ? 5 : 50);
    if (e.key === "ArrowLeft") moveTo(at - stepMs);
    else if (e.key === "ArrowRight") moveTo(at + stepMs);
    else if (e.key === "Home" && p.data.ranges.length) moveTo(p.data.ranges[0]!.startMs);
    else if (e.key === "End" && p.data.ranges.length) moveTo(p.data.ranges[p.data.ranges.length - 1]!.endMs);
    else if (e.key === "Enter" || e.key === " ") {
      setKeyMs(null);
      p.onSeek(at);
    } else if (e.key === "Escape") {
      anchor.current = null;
      p.onSelect(null);
    } else if (e.key === "PageUp") p.onView({ fromMs: p.view.fromMs - span / 2, toMs: p.view.toMs - span / 2 });
    else if (e.key === "PageDown") p.onView({ fromMs: p.view.fromMs + span / 2, toMs: p.view.toMs + span / 2 });
    else if (e.key === "+" || e.key === "=") p.onView(zoom(p.view, 0.5, at));
    else if (e.key === "-") p.onView(zoom(p.view, 2, at));
    else return;
    e.preventDefault();
  };
  const tip = hover ?? (keyMs != null ? { x: ((keyMs - p.view.fromMs) / (p.view.toMs - p.view.fromMs)) * width, t: keyMs } : null);
  return (
    <div class="timeline" ref={wrap} data-markers={p.markers?.length ?? 0} data-alarm-markers={p.markers?.filter((m) => m.kind === "alarm").length ?? 0} data-from={Math.round(p.view.fromMs)} data-to={Math.round(p.view.toMs)} data-ranges={p.data.ranges.length} data-first={p.data.ranges[0]?.startMs ?? ""} data-last={p.data.ranges[p.data.ranges.length - 1]?.endMs ?? ""}>
      <canvas
        ref={canvas}
        style={{ width: `${width}px`, height: `${H}px` }}
        tabIndex={0}
        role="slider"
        aria-label="Timeline: arrows move, Shift+arrows select, Enter plays, Esc clears, Page Up/Down pan, + and − zoom; click plays, Shift+drag selects"
        aria-valuemin={p.view.fromMs}
        aria-valuemax={p.view.toMs}
        aria-valuenow={keyMs ?? p.cursorMs ?? p.view.fromMs}
        aria-valuetext={keyMs != null ? `${fmtTime(keyMs)} — ${describeAt(p.data, keyMs)}` : p.cursorMs ? fmtTime(p.cursorMs) : "not playing"}
        onBlur={() => setKeyMs(null)}
        onPointerDown={(e) => onDown(e as unknown as PointerEvent)}
        onPointerMove={(e) => onMove(e as unknown as PointerEvent)}
        onPointerUp={(e) => onUp(e as unknown as PointerEvent)}
        onPointerLeave={() => setHover(null)}
        onKeyDown={(e) => onKey(e as unknown as KeyboardEvent)}
      />
      {tip && (
        <div class="tl-tip" data-testid="timeline-tip" style={{ left: `${Math.max(0, Math.min(tip.x + 12, width - 300))}px` }}>
          <strong>{fmtTime(tip.t)}</strong>
          <br />
          {(() => {
            const m = p.markers && markerAt(p.markers, tip.t, ((p.view.toMs - p.view.fromMs) / width) * 5);
            return m ? `${m.kind === "alarm" ? "alarm" : "event"}: ${m.label} at ${fmtTime(m.atMs, false)}` : describeAt(p.data, tip.t);
          })()}
        </div>
      )}
      <div class="legend" aria-label="Legend">
        {(p.central ? (["both", "central", "edge"] as const) : (["local"] as const)).map((k) => (
          <span key={k}>
            <i style={{ background: COLORS[k] }} />
            {HELD_LABEL[k]}
          </span>
        ))}
        {p.central && (
          <span>
            <i style={{ background: COLORS.retrieving }} />
            being retrieved
          </span>
        )}
        <span>
          <i style={{ background: COLORS.gap }} />
          gap (hover for reason)
        </span>
        <span>
          <i style={{ background: COLORS.lock }} />
          evidence lock
        </span>
        <span>
          <i style={{ background: EVENT_MARKER_COLOR, width: "2px" }} />
          event
        </span>
        {p.central && (
          <span>
            <i class="legend-alarm" />
            alarm (priority colour)
          </span>
        )}
      </div>
    </div>
  );
}
