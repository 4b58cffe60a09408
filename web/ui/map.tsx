/** Fleet map: sites at their last GPS position (optional slippy-map tiles from a configurable URL), a plain background otherwise. */
import { useEffect, useMemo, useState } from "preact/hooks";
import { getOptional } from "../api.ts";
import type { Site } from "../model.ts";
import { visibleCameras } from "./tree.tsx";
import { Badge, Dot, fmtAgo, navigate, useApp } from "./common.tsx";

const LS_TILES = "outpost.mapTiles";
type Pos = { lat: number; lon: number; at?: string };

function gpsOf(s: Site & Record<string, unknown>): Pos | null {
  const g = (s.gps ?? (s.health as Record<string, unknown> | null | undefined)?.gps ?? s.position) as Partial<Pos> | undefined | null;
  return g && typeof g.lat === "number" && typeof g.lon === "number" ? (g as Pos) : null;
}

const mx = (lon: number, z: number) => ((lon + 180) / 360) * 256 * 2 ** z;
const my = (lat: number, z: number) => {
  const r = (lat * Math.PI) / 180;
  return ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * 256 * 2 ** z;
};

export function MapView() {
  const { sites, cameras, me } = useApp();
  const [detail, setDetail] = useState<Record<string, Site>>({});
  const [sel, setSel] = useState<string | null>(null);
  const [tiles, setTiles] = useState(localStorage.getItem(LS_TILES) ?? "");
  const W = 900;
  const H = 560;
  useEffect(() => {
    for (const s of sites) getOptional<Site>(`/api/v1/sites/${encodeURIComponent(s.id)}`).then((d) => d && setDetail((m) => ({ ...m, [s.id]: d })), () => undefined);
  }, [sites.map((s) => s.id).join()]);
  const placed = useMemo(() => sites.map((s) => ({ s, g: gpsOf((detail[s.id] ?? s) as Site & Record<string, unknown>) })), [sites, detail]);
  const withGps = placed.filter((p) => p.g);
  // fit: the largest zoom at which every vehicle fits
  let z = 2;
  let ox = 0;
  let oy = 0;
  if (withGps.length) {
    for (z = 16; z > 1; z--) {
      const xs = withGps.map((p) => mx(p.g!.lon, z));
      const ys = withGps.map((p) => my(p.g!.lat, z));
      if (Math.max(...xs) - Math.min(...xs) < W * 0.8 && Math.max(...ys) - Math.min(...ys) < H * 0.8) {
        ox = (Math.max(...xs) + Math.min(...xs)) / 2 - W / 2;
        oy = (Math.max(...ys) + Math.min(...ys)) / 2 - H / 2;
        break;
      }
    }
  }
  const posOf = (i: number, g: Pos | null) => (g ? { x: mx(g.lon, z) - ox, y: my(g.lat, z) - oy } : { x: 80 + (i % 6) * 140, y: 90 + Math.floor(i / 6) * 110 });
  const tileImgs = [];
  if (tiles && withGps.length) {
    for (let tx = Math.floor(ox / 256); tx * 256 < ox + W; tx++)
      for (let ty = Math.floor(oy / 256); ty * 256 < oy + H; ty++)
        tileImgs.push(<img key={`${tx}-${ty}`} class="map-tile" alt="" src={tiles.replace("{z}", String(z)).replace("{x}", String(tx)).replace("{y}", String(ty))} style={{ left: `${tx * 256 - ox}px`, top: `${ty * 256 - oy}px` }} />);
  }
  const selected = sites.find((s) => s.id === sel);
  const vis = visibleCameras(cameras, sites, me);
  return (
    <div class="map-page">
      <div class="toolbar">
        <h1 class="inline">Fleet map</h1>
        <span class="muted small">{withGps.length ? `${withGps.length} of ${sites.length} sites with a GPS position` : "No site reports a GPS position yet: sites are shown on a plain background."}</span>
        <span class="spacer" />
        <label class="label">
          Tile URL{" "}
          <input
            class="wide"
            placeholder="https://tiles.example/{z}/{x}/{y}.png (optional)"
            value={tiles}
            onChange={(e) => {
              setTiles(e.currentTarget.value);
              localStorage.setItem(LS_TILES, e.currentTarget.value);
            }}
          />
        </label>
      </div>
      <div class="map-body">
        <div class="map" style={{ width: `${W}px`, height: `${H}px` }} aria-label="Sites on the map">
          {tileImgs}
          {placed.map(({ s, g }, i) => {
            const p = posOf(i, g);
            return (
              <button key={s.id} class={`vehicle${s.online ? " on" : ""}${sel === s.id ? " sel" : ""}`} style={{ left: `${p.x}px`, top: `${p.y}px` }} onClick={() => setSel(s.id)} title={`${s.name}: ${s.online ? "online" : `offline, last seen ${fmtAgo(s.lastSeenAt)}`}`}>
                <span class="pin" aria-hidden="true">▲</span>
                <span class="vname">{s.name}</span>
              </button>
            );
          })}
        </div>
        <aside class="map-side">
          {selected ? (
            <>
              <h2>
                <Dot tone={selected.online ? "ok" : "dim"} label={selected.online ? "online" : "offline"} /> {selected.name}
              </h2>
              <p class="muted small">
                {selected.online ? "online" : `offline — last seen ${fmtAgo(selected.lastSeenAt)}`}
                {gpsOf((detail[selected.id] ?? selected) as Site & Record<string, unknown>) ? "" : " · no GPS position"}
              </p>
              {selected.state === "revoked" && <Badge tone="bad">revoked</Badge>}
              <h3>Cameras</h3>
              <ul class="pick">
                {vis
                  .filter((c) => c.siteId === selected.id)
                  .map((c) => (
                    <li key={c.id}>
                      <button onClick={() => navigate(`/playback?camera=${encodeURIComponent(c.id)}`)}>{c.name}</button>
                    </li>
                  ))}
                {!vis.some((c) => c.siteId === selected.id) && <li class="muted">No cameras listed for this site.</li>}
              </ul>
            </>
          ) : (
            <p class="muted">Click a vehicle to see its cameras.</p>
          )}
        </aside>
      </div>
    </div>
  );
}
