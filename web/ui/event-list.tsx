/** Admin → Events: events of the sites and cameras you may see, with original and arrival time, filtered by site, camera, type, source, lateness and time. */
import "./panels.css";
import { useState } from "preact/hooks";
import { get, q } from "../api.ts";
import { Badge, LoadView, fmtTime, useApp, useLoad } from "./common.tsx";
import { FilterBar, ListTable, Pager, SiteSelect, TimeRangeFilter, isoFromLocal as iso, useFilters } from "./paged-table.tsx";

interface Ev {
  id: string;
  type: string;
  time: string;
  arrivedAt: string;
  late: boolean;
  source: string;
  origin: string | null;
  siteId: string | null;
  cameraId: string | null;
  data: Record<string, unknown>;
}
type Filters = { site: string; camera: string; type: string; source: string; late: string; from: string; to: string };
const EMPTY: Filters = { site: "", camera: "", type: "", source: "", late: "", from: "", to: "" };
const PAGE = 50;

export function EventListAdmin() {
  const { sites } = useApp();
  const [offset, setOffset] = useState(0);
  const { draft, applied: f, set, apply } = useFilters<Filters>(EMPTY, () => setOffset(0));
  const [v, reload] = useLoad(
    () => get<{ events: Ev[] }>(`/api/v1/events?${q({ site: f.site || undefined, camera: f.camera || undefined, type: f.type || undefined, source: f.source || undefined, late: f.late || undefined, from: iso(f.from), to: iso(f.to), limit: PAGE, offset })}`),
    [JSON.stringify(f), offset],
  );
  const siteName = (id: string | null) => (id ? sites.find((s) => s.id === id)?.name ?? id : "");
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Events</h1>
        <span class="spacer" />
        <button onClick={reload}>Refresh</button>
      </div>
      <FilterBar label="Event filters" onSubmit={apply}>
        <SiteSelect label="Site" sites={sites} value={draft.site} onChange={set("site")} />
        <label>
          Camera
          <input value={draft.camera} onInput={set("camera")} placeholder="site.camera" />
        </label>
        <label>
          Type
          <input value={draft.type} onInput={set("type")} placeholder="panic or camera.*" />
        </label>
        <label>
          Source
          <select aria-label="Source" value={draft.source} onChange={set("source")}>
            <option value="">any</option>
            {["edge", "link", "system", "external"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Arrival
          <select aria-label="Arrival" value={draft.late} onChange={set("late")}>
            <option value="">on time or late</option>
            <option value="true">late only</option>
            <option value="false">on time only</option>
          </select>
        </label>
        <TimeRangeFilter from={draft.from} to={draft.to} set={set} />
      </FilterBar>
      <LoadView v={v} what="Events" endpoint="GET /api/v1/events">
        {(d) => (
          <>
            <ListTable label="Events" columns={["Time", "Arrived", "Type", "Site", "Camera", "Source", "Data"]} count={d.events.length} empty="No events match.">
              {d.events.map((e) => (
                <tr key={e.id} data-event={e.type}>
                  <td>{fmtTime(e.time)}</td>
                  <td>
                    {fmtTime(e.arrivedAt)} {e.late && <Badge tone="warn">late</Badge>}
                  </td>
                  <td>{e.type}</td>
                  <td>{siteName(e.siteId)}</td>
                  <td>{e.cameraId ?? ""}</td>
                  <td>
                    {e.source}
                    {e.origin ? <span class="muted small"> ({e.origin})</span> : null}
                  </td>
                  <td class="small mono">{Object.keys(e.data).length ? JSON.stringify(e.data).slice(0, 160) : ""}</td>
                </tr>
              ))}
            </ListTable>
            <Pager newer={offset > 0 ? () => setOffset(Math.max(0, offset - PAGE)) : null} older={d.events.length < PAGE ? null : () => setOffset(offset + PAGE)} />
          </>
        )}
      </LoadView>
    </section>
  );
}
