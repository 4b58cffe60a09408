/**
 * Place-and-time search on the fleet map: draw a circle or a polygon, pick a time window →
 * every (vehicle, camera, time range) whose track entered the area, with where the footage is
 * (at central / edge only / gone). "Retrieve all" asks for every edge-only piece at a chosen
 * priority (POST /api/v1/retrievals, one per piece) and the list follows them to central.
 * A result opens playback at its start.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.ts";
import { can } from "../model.ts";
import { Notice, fmtDuration, fmtTime, navigate, useApp } from "./common.tsx";
import { HOLDING_COLOUR, HOLDING_WORDS, L, type Holding } from "./leaflet-map.ts";
import { drawArea } from "./map-draw.ts";
import { playbackAt, searchArea, type Area, type SearchResult } from "./fleet-data.ts";
import { RetrievePicker } from "./retrieve-picker.tsx";
import { errorSentence } from "./words.ts";

/** datetime-local value (local time, minutes) ↔ ms */
const toLocal = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
};
const fromLocal = (v: string) => new Date(v).getTime();

/** One word for where a result's footage is. */
export function whereWords(r: SearchResult): { word: string; at: Holding | "mixed" } {
  const ats = new Set(r.footage.map((f) => f.at));
  if (ats.size === 1) {
    const at = [...ats][0]!;
    return { word: HOLDING_WORDS[at], at };
  }
  const part = (["central", "edge", "gone"] as const).filter((a) => ats.has(a)).map((a) => HOLDING_WORDS[a]);
  return { word: `partly: ${part.join(", ")}`, at: "mixed" };
}

export function FleetSearch(p: { map: L.Map | null }) {
  const { me, notify } = useApp();
  const [kind, setKind] = useState<"circle" | "polygon">("circle");
  const [drawing, setDrawing] = useState(false);
  const [area, setArea] = useState<Area | null>(null);
  const [from, setFrom] = useState(toLocal(Date.now() - 3600_000));
  const [to, setTo] = useState(toLocal(Date.now() + 60_000));
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [priority, setPriority] = useState("request");
  /** After "retrieve all": the list is searched again until nothing is edge-only (or 3 minutes pass). */
  const [followUntil, setFollowUntil] = useState(0);
  const layer = useRef<L.Layer | null>(null);
  const cancelDraw = useRef<(() => void) | null>(null);

  // the drawn area stays on the map while this panel is open
  useEffect(
    () => () => {
      cancelDraw.current?.();
      layer.current?.remove();
    },
    [],
  );
  const startDraw = (k: "circle" | "polygon") => {
    if (!p.map) return;
    cancelDraw.current?.();
    layer.current?.remove();
    layer.current = null;
    setArea(null);
    setResults(null);
    setKind(k);
    setDrawing(true);
    cancelDraw.current = drawArea(p.map, k, (a, l) => {
      cancelDraw.current = null;
      setDrawing(false);
      l.addTo(p.map!);
      layer.current = l;
      setArea(a);
    });
  };
  const search = async (quiet = false) => {
    if (!area) return;
    const f = fromLocal(from);
    const t = fromLocal(to);
    if (!(t > f)) return setErr("The window's end must be after its start.");
    if (!quiet) setBusy(true);
    setErr(null);
    try {
      setResults((await searchArea(area, f, t)).results);
    } catch (e) {
      setErr(errorSentence(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (area) void search();
  }, [area]);
  useEffect(() => {
    if (!followUntil) return;
    const t = setInterval(() => {
      if (Date.now() > followUntil) return setFollowUntil(0);
      void search(true);
    }, 4000);
    return () => clearInterval(t);
  }, [followUntil, area, from, to]);
  useEffect(() => {
    if (followUntil && results && !results.some((r) => r.footage.some((f) => f.at === "edge"))) setFollowUntil(0);
  }, [results, followUntil]);

  const edgePieces = (results ?? []).flatMap((r) => r.footage.filter((f) => f.at === "edge").map((f) => ({ r, f })));
  const retrievable = edgePieces.filter(({ r }) => can(me, "retrieve", { site: r.siteId, camera: r.cameraId }));
  const retrieveAll = async () => {
    let ok = 0;
    const errors: string[] = [];
    for (const { r, f } of retrievable) {
      try {
        await api("POST", "/api/v1/retrievals", { cameraId: r.cameraId, from: f.from, to: f.to, priority, stream: r.stream, reason: "place-and-time search" });
        ok++;
      } catch (e) {
        errors.push(`${r.cameraName}: ${errorSentence(e)}`);
      }
    }
    if (ok) setFollowUntil(Date.now() + 180_000);
    notify(errors.length ? `${ok} retrievals queued; ${errors.length} refused — ${errors[0]}` : `${ok} retrievals queued at priority ${priority}.`, errors.length ? "error" : "ok");
  };

  return (
    <div class="fleet-search">
      <div class="fleet-row">
        <span class="label">Draw</span>
        <button class={drawing && kind === "circle" ? "seg on" : "seg"} onClick={() => startDraw("circle")} disabled={!p.map}>
          Circle
        </button>
        <button class={drawing && kind === "polygon" ? "seg on" : "seg"} onClick={() => startDraw("polygon")} disabled={!p.map}>
          Polygon
        </button>
      </div>
      <p class="muted small" data-testid="draw-hint">
        {drawing ? (kind === "circle" ? "Press at the centre and drag to the radius." : "Click each corner; double-click (or click the first corner) to close.") : area ? ("circle" in area ? `Circle of ${area.circle.radiusM} m.` : `Polygon of ${area.polygon.length} corners.`) : "Draw an area on the map."}
      </p>
      <div class="fleet-row">
        <label class="label">
          From <input type="datetime-local" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label class="label">
          To <input type="datetime-local" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button class="primary" onClick={() => search()} disabled={!area || busy}>
          {busy ? "Searching…" : "Search"}
        </button>
      </div>
      {err && <Notice kind="error">{err}</Notice>}
      {results && (
        <>
          <div class="fleet-row">
            <strong data-testid="search-count">
              {results.length ? `${results.length} ${results.length === 1 ? "result" : "results"}` : "Nothing passed this area in the window."}
            </strong>
            <span class="spacer" />
            {edgePieces.length > 0 && (
              <>
                <RetrievePicker priority={priority} onPriority={setPriority} onRetrieve={retrieveAll} disabled={!retrievable.length} title={retrievable.length ? "Copy every edge-only piece to central" : "You may not retrieve these cameras"} label={`Retrieve all (${edgePieces.length})`} />
              </>
            )}
          </div>
          {followUntil > 0 && <p class="muted small">Following the retrievals: the list refreshes until the footage is at central.</p>}
          <ul class="fleet-results" aria-label="Search results">
            {results.map((r) => {
              const w = whereWords(r);
              return (
                <li key={`${r.cameraId}-${r.from}`} data-where={w.at}>
                  <button onClick={() => navigate(playbackAt(r.cameraId, Date.parse(r.from)))} title="Play from here">
                    <strong>{r.siteName}</strong> · {r.cameraName}
                    <br />
                    <span class="small">
                      {fmtTime(r.from)} – {fmtTime(r.to, false)} ({fmtDuration(Date.parse(r.to) - Date.parse(r.from))})
                    </span>
                    <span class={`where at-${w.at}`}>{w.word}</span>
                    <span class="footage-bar" aria-hidden="true">
                      {r.footage.map((f) => (
                        <span key={f.from} style={{ flexGrow: Math.max(1, Date.parse(f.to) - Date.parse(f.from)), background: HOLDING_COLOUR[f.at] }} />
                      ))}
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
        </>
      )}
    </div>
  );
}
