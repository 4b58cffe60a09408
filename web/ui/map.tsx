/**
 * Fleet map (central): every vehicle you may see at its live position (arrow = heading; moving,
 * stopped, parked, offline since …), a chosen vehicle's track for a day coloured by where its
 * video is held (central / edge only / gap), a click on the track opens playback at that moment
 * (central fetches edge-only footage first), and place-and-time search (fleet-search.tsx).
 * Leaflet draws it (leaflet-map.ts); without a configured tile URL the background is a grid.
 */
import "./fleet.css";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { visibleCameras } from "./tree.tsx";
import { Notice, fmtTime, navigate, useApp } from "./common.tsx";
import { createFleetMap, vehicleIcon, HOLDING_COLOUR, HOLDING_WORDS, L, type Holding } from "./leaflet-map.ts";
import { compass, kmh, loadMapSettings, loadPositions, loadTrackRuns, playbackAt, type RunPoint, type TrackRun, type VehiclePos } from "./fleet-data.ts";
import { FleetSearch } from "./fleet-search.tsx";
import { errorSentence } from "./words.ts";

const DAY = 86_400_000;
const localDay = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
};
/** Local midnight of a YYYY-MM-DD day. */
const dayStart = (day: string) => new Date(`${day}T00:00:00`).getTime();

export function stateWords(v: VehiclePos): string {
  if (v.state === "offline") return `offline since ${v.offlineSince ? fmtTime(v.offlineSince) : "—"}`;
  if (v.state === "moving") return `moving · ${kmh(v.position?.speedMps)} · ${compass(v.position?.headingDeg)}`;
  return v.state;
}

/** The moment on a run nearest to a clicked point (interpolated along the nearest piece, in screen pixels). */
function timeAt(map: L.Map, pts: RunPoint[], at: L.LatLng): number {
  const c = map.latLngToContainerPoint(at);
  let best = { d: Infinity, t: pts[0]![0] };
  for (let i = 0; i < pts.length; i++) {
    const a = map.latLngToContainerPoint([pts[i]![1], pts[i]![2]]);
    const nb = pts[i + 1];
    if (!nb) {
      if (a.distanceTo(c) < best.d) best = { d: a.distanceTo(c), t: pts[i]![0] };
      continue;
    }
    const b = map.latLngToContainerPoint([nb[1], nb[2]]);
    const len2 = (b.x - a.x) ** 2 + (b.y - a.y) ** 2;
    const f = len2 ? Math.max(0, Math.min(1, ((c.x - a.x) * (b.x - a.x) + (c.y - a.y) * (b.y - a.y)) / len2)) : 0;
    const d = Math.hypot(a.x + f * (b.x - a.x) - c.x, a.y + f * (b.y - a.y) - c.y);
    if (d < best.d) best = { d, t: Math.round(pts[i]![0] + f * (nb[0] - pts[i]![0])) };
  }
  return best.t;
}

export function MapView() {
  const { sites, cameras, me } = useApp();
  const el = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<L.Map | null>(null);
  const [mapErr, setMapErr] = useState<string | null>(null);
  const [tiles, setTiles] = useState<boolean | null>(null);
  const [vehicles, setVehicles] = useState<VehiclePos[] | null>(null);
  const [posErr, setPosErr] = useState<string | null>(null);
  const [sel, setSel] = useState<string | null>(null);
  const [tab, setTab] = useState<"vehicles" | "search">("vehicles");
  const [day, setDay] = useState(localDay(Date.now()));
  const [trackCam, setTrackCam] = useState("");
  const [runs, setRuns] = useState<TrackRun[] | null>(null);
  const [tick, setTick] = useState(0);
  const vis = useMemo(() => visibleCameras(cameras, sites, me), [cameras, sites, me]);
  const markers = useRef(new Map<string, L.Marker>());
  const fitted = useRef(false);

  // the map, once central's tile settings are known (a failed answer: the offline grid)
  useEffect(() => {
    let m: L.Map | null = null;
    let live = true;
    loadMapSettings()
      .catch((e) => {
        setMapErr(`Map settings could not be loaded (${errorSentence(e)}); showing a plain background.`);
        return { tileUrl: null, attribution: "" };
      })
      .then((s) => {
        if (!live || !el.current) return;
        m = createFleetMap(el.current, s);
        setTiles(!!s.tileUrl);
        setMap(m);
      });
    return () => {
      live = false;
      m?.remove();
      markers.current.clear();
    };
  }, []);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 3000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    loadPositions().then(
      (v) => {
        setVehicles(v);
        setPosErr(null);
      },
      (e) => setPosErr(errorSentence(e)),
    );
  }, [tick]);

  // vehicle markers
  useEffect(() => {
    if (!map || !vehicles) return;
    const seen = new Set<string>();
    for (const v of vehicles) {
      const p = v.position;
      if (p?.lat === undefined || p.lon === undefined) continue;
      seen.add(v.siteId);
      const icon = vehicleIcon({ name: v.name, state: v.state, ...(p.headingDeg !== undefined ? { headingDeg: p.headingDeg } : {}), selected: v.siteId === sel });
      let mk = markers.current.get(v.siteId);
      if (!mk) {
        mk = L.marker([p.lat, p.lon], { icon, title: v.name, keyboard: true, zIndexOffset: 1000 }).addTo(map);
        mk.on("click", () => {
          setSel(v.siteId);
          setTab("vehicles");
        });
        markers.current.set(v.siteId, mk);
      } else {
        mk.setLatLng([p.lat, p.lon]);
        mk.setIcon(icon);
      }
      mk.getElement()?.setAttribute("data-site", v.siteId);
      mk.getElement()?.setAttribute("data-state", v.state);
    }
    for (const [id, mk] of markers.current) if (!seen.has(id)) (mk.remove(), markers.current.delete(id));
    const placed = vehicles.filter((v) => v.position?.lat !== undefined);
    if (!fitted.current && placed.length) {
      fitted.current = true;
      map.fitBounds(L.latLngBounds(placed.map((v) => [v.position!.lat!, v.position!.lon!])).pad(0.5), { maxZoom: 16 });
    }
  }, [map, vehicles, sel]);

  // the chosen vehicle's track for the day, refreshed while it is today
  const today = day === localDay(Date.now());
  useEffect(() => {
    setRuns(null);
    if (!sel || !day) return;
    const from = dayStart(day);
    let live = true;
    const load = () =>
      loadTrackRuns(sel, from, from + DAY, trackCam || undefined).then(
        (r) => live && setRuns(r.runs),
        () => live && setRuns([]),
      );
    void load();
    const t = today ? setInterval(load, 15_000) : undefined;
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [sel, day, trackCam, today]);
  const playCam = trackCam || vis.find((c) => c.siteId === sel)?.id || "";
  useEffect(() => {
    if (!map || !runs?.length) return;
    const group = L.featureGroup().addTo(map);
    for (const r of runs) {
      const line =
        r.points.length > 1
          ? L.polyline(
              r.points.map((p) => [p[1], p[2]] as [number, number]),
              { color: HOLDING_COLOUR[r.at], weight: 6, opacity: 0.9, dashArray: r.at === "gone" ? "6 6" : undefined, className: `track-run at-${r.at}` },
            )
          : L.circleMarker([r.points[0]![1], r.points[0]![2]], { radius: 4, color: HOLDING_COLOUR[r.at], className: `track-run at-${r.at}` });
      line.bindTooltip(`${fmtTime(r.from, false)} – ${fmtTime(r.to, false)}: ${HOLDING_WORDS[r.at]}${playCam ? " · click to play" : ""}`, { sticky: true });
      line.on("click", (e) => {
        // not while an area is being drawn over it (map-draw.ts marks the map)
        if (playCam && !map.getContainer().classList.contains("drawing")) navigate(playbackAt(playCam, timeAt(map, r.points, (e as L.LeafletMouseEvent).latlng)));
      });
      line.addTo(group);
    }
    return () => void group.remove();
  }, [map, runs, playCam]);
  useEffect(() => {
    map?.getContainer().setAttribute("data-track-runs", String(runs?.length ?? 0));
  }, [map, runs]);

  const selected = vehicles?.find((v) => v.siteId === sel) ?? null;
  const placed = vehicles?.filter((v) => v.position?.lat !== undefined).length ?? 0;
  const counts = (runs ?? []).reduce<Record<Holding, number>>((a, r) => ((a[r.at] += 1), a), { central: 0, edge: 0, gone: 0 });
  return (
    <div class="fleet-page">
      <div class="toolbar">
        <h1 class="inline">Fleet map</h1>
        <span class="muted small" data-testid="fleet-summary">
          {vehicles === null ? "Loading vehicles…" : `${placed} of ${vehicles.length} vehicles with a position`}
          {tiles === false && " · no map tiles configured (web.map.tileUrl): plain grid"}
        </span>
      </div>
      {mapErr && <Notice kind="warn">{mapErr}</Notice>}
      {posErr && <Notice kind="error">{posErr}</Notice>}
      <div class="fleet-body">
        <div class="fleet-map" ref={el} aria-label="Fleet map" data-testid="fleet-map" />
        <aside class="fleet-side">
          <div class="fleet-tabs" role="tablist">
            <button role="tab" aria-selected={tab === "vehicles"} class={tab === "vehicles" ? "seg on" : "seg"} onClick={() => setTab("vehicles")}>
              Vehicles
            </button>
            <button role="tab" aria-selected={tab === "search"} class={tab === "search" ? "seg on" : "seg"} onClick={() => setTab("search")}>
              Search an area
            </button>
          </div>
          {tab === "search" ? (
            <FleetSearch map={map} />
          ) : (
            <>
              <ul class="fleet-vehicles" aria-label="Vehicles">
                {(vehicles ?? []).map((v) => (
                  <li key={v.siteId}>
                    <button
                      class={v.siteId === sel ? "sel" : ""}
                      onClick={() => {
                        setSel(v.siteId);
                        const p = v.position;
                        if (map && p?.lat !== undefined && p.lon !== undefined) map.panTo([p.lat, p.lon]);
                      }}
                    >
                      <span class={`veh-state veh-${v.state}`} aria-hidden="true" />
                      <strong>{v.name}</strong> <span class="muted small">{stateWords(v)}</span>
                    </button>
                  </li>
                ))}
                {vehicles?.length === 0 && <li class="muted">No vehicles you may see.</li>}
              </ul>
              {selected && (
                <section class="fleet-detail" data-testid="vehicle-detail">
                  <h2>{selected.name}</h2>
                  <p class="small">
                    {stateWords(selected)}
                    {selected.position ? ` · position of ${fmtTime(selected.position.time)}` : " · no position reported"}
                    {selected.position && selected.position.lat === undefined && ` (${selected.position.fix})`}
                  </p>
                  <p class="small muted" data-testid="last-offload">
                    {selected.lastOffloadAt ? `Last depot offload finished ${fmtTime(selected.lastOffloadAt)}` : "No depot offload yet"}
                  </p>
                  <div class="fleet-row">
                    <label class="label">
                      Day <input type="date" value={day} max={localDay(Date.now())} onChange={(e) => setDay(e.currentTarget.value)} />
                    </label>
                    <label class="label">
                      Camera{" "}
                      <select value={trackCam} onChange={(e) => setTrackCam(e.currentTarget.value)} aria-label="Camera for the track colours">
                        <option value="">any camera</option>
                        {vis
                          .filter((c) => c.siteId === sel)
                          .map((c) => (
                            <option key={c.id} value={c.id}>
                              {c.name}
                            </option>
                          ))}
                      </select>
                    </label>
                  </div>
                  <ul class="legend">
                    {(["central", "edge", "gone"] as const).map((h) => (
                      <li key={h}>
                        <span class={`swatch at-${h}`} style={{ background: HOLDING_COLOUR[h] }} /> {HOLDING_WORDS[h]} {runs ? `(${counts[h]})` : ""}
                      </li>
                    ))}
                  </ul>
                  <p class="muted small">
                    {runs === null ? "Loading the track…" : runs.length ? "Click the track to play that moment." : "No track kept for this day."}
                    {runs?.length ? (
                      <button class="link" onClick={() => map && runs.length && map.fitBounds(L.latLngBounds(runs.flatMap((r) => r.points.map((p) => [p[1], p[2]] as [number, number]))).pad(0.2))}>
                        Show the whole track
                      </button>
                    ) : null}
                  </p>
                  <h3>Cameras</h3>
                  <ul class="pick">
                    {vis
                      .filter((c) => c.siteId === sel)
                      .map((c) => (
                        <li key={c.id}>
                          <button onClick={() => navigate(`/playback?camera=${encodeURIComponent(c.id)}`)}>{c.name}</button>
                        </li>
                      ))}
                  </ul>
                </section>
              )}
              {!selected && <p class="muted small">Pick a vehicle (here or on the map) to see its track for a day.</p>}
            </>
          )}
        </aside>
      </div>
    </div>
  );
}
