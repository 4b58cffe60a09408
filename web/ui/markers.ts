/**
 * Event and alarm markers for one camera's timeline: the events API (central's, filtered to
 * the sites the user may see, or the edge's local log) and, at central, the alarms of the
 * camera in the same window, in their priority colour. Reloaded with the window (debounced).
 */
import { useEffect, useState } from "preact/hooks";
import { ROLE, getOptional, q } from "../api.ts";
import type { Camera } from "../model.ts";
import type { Marker, TimelineView } from "../timeline-draw.ts";
import { priorityColor } from "./priority.ts";

type RawEvent = { id: string; type: string; time: string; siteId?: string | null; cameraId: string | null };
type RawAlarm = { id: number; title: string; priority: number; eventTime: string; siteId: string | null; cameraId: string | null };

/** Does an event or alarm (camera named locally, "cam1", or centrally, "site.cam1") belong to this camera? */
export const ofCamera = (cam: Camera, x: { siteId?: string | null; cameraId: string | null }) => !!x.cameraId && (x.cameraId === cam.id || (!!x.siteId && `${x.siteId}.${x.cameraId}` === cam.id));

export async function loadMarkers(cam: Camera, fromMs: number, toMs: number): Promise<Marker[]> {
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  if (ROLE === "edge") {
    const r = await getOptional<{ events: RawEvent[] }>(`/api/v1/events?${q({ camera: cam.id, from, to, limit: 1000 })}`);
    return (r?.events ?? []).map((e) => ({ atMs: Date.parse(e.time), kind: "event", label: e.type }));
  }
  const site = cam.siteId ?? undefined;
  const [ev, al] = await Promise.all([
    getOptional<{ events: RawEvent[] }>(`/api/v1/events?${q({ site, from, to, limit: 1000 })}`).catch(() => null),
    getOptional<{ alarms: RawAlarm[] }>(`/api/v1/alarms?${q({ site, from, to, limit: 500 })}`).catch(() => null),
  ]);
  return [
    ...(ev?.events ?? []).filter((e) => ofCamera(cam, e)).map((e): Marker => ({ atMs: Date.parse(e.time), kind: "event", label: e.type })),
    ...(al?.alarms ?? []).filter((a) => ofCamera(cam, a)).map((a): Marker => ({ atMs: Date.parse(a.eventTime), kind: "alarm", label: `P${a.priority} ${a.title}`, color: priorityColor(a.priority) })),
  ];
}

/** Markers of `cam` in `view`, refreshed when `tick` changes. */
export function useMarkers(cam: Camera | null, view: TimelineView, tick: number): Marker[] {
  const [markers, setMarkers] = useState<Marker[]>([]);
  useEffect(() => {
    if (!cam) return setMarkers([]);
    let live = true;
    const t = setTimeout(() => {
      loadMarkers(cam, Math.floor(view.fromMs), Math.ceil(view.toMs)).then(
        (m) => live && setMarkers(m),
        () => undefined, // markers are an extra: the timeline stands without them
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [cam?.id, view.fromMs, view.toMs, tick]);
  return markers;
}
