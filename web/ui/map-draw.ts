/**
 * Drawing a search area on the Leaflet map, by hand (leaflet-draw has had no release since
 * 2018): a circle (press at the centre, drag to the radius, release) or a polygon (click each
 * corner; double-click, or click the first corner, to close it). While drawing, the map does
 * not pan or zoom on the same gestures. Returns a function that cancels the drawing.
 */
import { L } from "./leaflet-map.ts";
import type { Area } from "./fleet-data.ts";

const STYLE: L.PathOptions = { color: "#4aa3ff", weight: 2, fillOpacity: 0.12, className: "search-area" };

export function drawArea(map: L.Map, kind: "circle" | "polygon", done: (area: Area, layer: L.Layer) => void): () => void {
  const el = map.getContainer();
  el.classList.add("drawing");
  const wasDragging = map.dragging.enabled();
  const wasDblZoom = map.doubleClickZoom.enabled();
  map.dragging.disable();
  map.doubleClickZoom.disable();
  const layers = L.layerGroup().addTo(map);
  const off: (() => void)[] = [];
  const on = (ev: string, fn: L.LeafletEventHandlerFn) => {
    map.on(ev, fn);
    off.push(() => map.off(ev, fn));
  };
  const finish = () => {
    for (const f of off) f();
    el.classList.remove("drawing");
    if (wasDragging) map.dragging.enable();
    if (wasDblZoom) map.doubleClickZoom.enable();
  };
  const cancel = () => {
    finish();
    layers.remove();
  };

  if (kind === "circle") {
    let circle: L.Circle | null = null;
    on("mousedown", (e) => {
      const c = (e as L.LeafletMouseEvent).latlng;
      circle = L.circle(c, { ...STYLE, radius: 1 }).addTo(layers);
    });
    on("mousemove", (e) => {
      if (circle) circle.setRadius(Math.max(1, map.distance(circle.getLatLng(), (e as L.LeafletMouseEvent).latlng)));
    });
    on("mouseup", () => {
      if (!circle) return;
      const c = circle.getLatLng();
      const r = Math.round(circle.getRadius());
      if (r < 5) {
        // a click, not a drag: start again
        layers.clearLayers();
        circle = null;
        return;
      }
      finish();
      layers.removeLayer(circle);
      layers.remove();
      done({ circle: { lat: c.lat, lon: c.lng, radiusM: Math.min(r, 50_000) } }, circle);
    });
  } else {
    const pts: L.LatLng[] = [];
    const line = L.polyline([], { ...STYLE, dashArray: "4 4" }).addTo(layers);
    const close = () => {
      if (pts.length < 3) return;
      finish();
      layers.remove();
      done({ polygon: pts.map((p) => ({ lat: p.lat, lon: p.lng })) }, L.polygon(pts, STYLE));
    };
    on("click", (e) => {
      const p = (e as L.LeafletMouseEvent).latlng;
      // clicking (near) the first corner closes the polygon
      const px = map.latLngToContainerPoint(p);
      if (pts.length >= 3 && map.latLngToContainerPoint(pts[0]!).distanceTo(px) < 10) return close();
      // a double-click's two clicks land on one spot: one corner
      if (pts.length && map.latLngToContainerPoint(pts.at(-1)!).distanceTo(px) < 4) return;
      pts.push(p);
      L.circleMarker(p, { radius: 4, color: "#4aa3ff", weight: 2, fillOpacity: 1 }).addTo(layers);
      line.setLatLngs([...pts]);
    });
    on("dblclick", () => close());
  }
  return cancel;
}
