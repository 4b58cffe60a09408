/**
 * Leaflet for the fleet map: the map itself (EPSG:3857; tiles from central's `web.map.tileUrl`,
 * or — unset, offline — a drawn grid that pans and zooms like tiles), vehicle markers (an arrow
 * turned to the heading, coloured by state; built as DOM nodes, so a site name is text, never
 * HTML) and the colours of the footage classes. Leaflet's CSS is bundled with the client; the
 * markers are divIcons, so Leaflet's default marker images are never fetched.
 */
import L from "leaflet";
import "leaflet/dist/leaflet.css";

export type Holding = "central" | "edge" | "gone";
export const HOLDING_COLOUR: Record<Holding, string> = { central: "#3fb950", edge: "#f0a030", gone: "#8b949e" };
export const HOLDING_WORDS: Record<Holding, string> = { central: "at central", edge: "edge only", gone: "no video (gap)" };

/** The offline background: a 256 px grid per tile, drawn in the page (nothing fetched). */
const GridLayer = L.GridLayer.extend({
  createTile(this: L.GridLayer, coords: L.Coords) {
    const c = document.createElement("canvas");
    c.width = c.height = 256;
    const g = c.getContext("2d")!;
    g.fillStyle = "#0b1118";
    g.fillRect(0, 0, 256, 256);
    g.strokeStyle = "#1b2633";
    for (let i = 0; i < 256; i += 64) {
      g.beginPath();
      g.moveTo(i + 0.5, 0);
      g.lineTo(i + 0.5, 256);
      g.moveTo(0, i + 0.5);
      g.lineTo(256, i + 0.5);
      g.stroke();
    }
    g.strokeStyle = "#243244";
    g.strokeRect(0.5, 0.5, 256, 256);
    c.dataset.tile = `${coords.z}/${coords.x}/${coords.y}`;
    return c;
  },
});

export function createFleetMap(el: HTMLElement, tiles: { tileUrl: string | null; attribution: string }): L.Map {
  const map = L.map(el, { crs: L.CRS.EPSG3857, zoomControl: true, attributionControl: !!tiles.tileUrl, preferCanvas: false, minZoom: 2, maxZoom: 19, worldCopyJump: true });
  if (tiles.tileUrl) L.tileLayer(tiles.tileUrl, { attribution: tiles.attribution, maxZoom: 19 }).addTo(map);
  else new (GridLayer as unknown as new (o: L.GridLayerOptions) => L.GridLayer)({ maxZoom: 19 }).addTo(map);
  // without tiles the grid says nothing about distance: a scale bar does
  L.control.scale({ imperial: false }).addTo(map);
  map.setView([20, 0], 2);
  return map;
}

export type VehicleState = "moving" | "stopped" | "parked" | "offline";

/** A vehicle's marker: an arrow turned to its heading (a dot without one), its name, its state as a class. */
export function vehicleIcon(v: { name: string; state: VehicleState; headingDeg?: number; selected: boolean }): L.DivIcon {
  const root = document.createElement("div");
  root.className = `veh veh-${v.state}${v.selected ? " veh-sel" : ""}`;
  const arrow = document.createElement("span");
  arrow.className = v.headingDeg === undefined || v.state !== "moving" ? "veh-dot" : "veh-arrow";
  if (v.headingDeg !== undefined && v.state === "moving") arrow.style.transform = `rotate(${Math.round(v.headingDeg)}deg)`;
  const label = document.createElement("span");
  label.className = "veh-name";
  label.textContent = v.name;
  root.append(arrow, label);
  return L.divIcon({ html: root, className: "veh-icon", iconSize: [18, 18], iconAnchor: [9, 9] });
}

export { L };
