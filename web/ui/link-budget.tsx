/**
 * Admin → Link budget: per site the link profiles with monthly budget use, the transfer queue by
 * class, and a chart of bytes received per day and link (GET /api/v1/sites/{id}/transfer; the
 * transfer engine keeps the per-day history in its database, so it survives restarts).
 */
import "./panels.css";
import { useState } from "preact/hooks";
import { get } from "../api.ts";
import { Badge, LoadView, fmtBytes, useApp, useLoad } from "./common.tsx";
import { LinkTypesEditor } from "./forms/link-types-form.tsx";

interface SiteTransfer {
  site: string;
  link: string | null;
  month: string;
  links: { link: string; rateBitsPerSecond: number | null; monthlyBytes: number | null; allow: string[] | null; usedBytes: number; receivedBytes: number; remainingBytes: number | null }[];
  days?: { day: string; link: string; bytes: number }[];
  queue: { items: number; bytes: number; byClass: Record<string, { items: number; bytes: number }>; atRisk: number };
  goodputBytesPerSecond: number;
  lost: number;
}

const COLORS = ["#4c9aff", "#f5a623", "#7ed321", "#bd10e0", "#50e3c2", "#d0021b"];
const DAYS = 31;

export function LinkBudgetAdmin() {
  const { sites } = useApp();
  const [site, setSite] = useState<string>("");
  const id = site || sites[0]?.id || "";
  const [v, reload] = useLoad(() => (id ? get<SiteTransfer>(`/api/v1/sites/${encodeURIComponent(id)}/transfer`) : Promise.resolve(null)), [id]);
  const [editLinks, setEditLinks] = useState(false);
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Link budget and transfer queue</h1>
        <span class="spacer" />
        <label>
          Site{" "}
          <select value={id} onChange={(e) => setSite(e.currentTarget.value)} aria-label="Site">
            {sites.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <button onClick={reload}>Refresh</button>
        {id && <button onClick={() => setEditLinks(true)}>Edit link types…</button>}
      </div>
      {editLinks && (
        <LinkTypesEditor
          siteId={id}
          siteName={sites.find((s) => s.id === id)?.name ?? id}
          onClose={() => setEditLinks(false)}
          onSaved={() => {
            setEditLinks(false);
            reload();
          }}
        />
      )}
      {!id ? (
        <p class="muted">No sites enrolled yet.</p>
      ) : (
        <LoadView v={v} what="Link budget" endpoint={`GET /api/v1/sites/${id}/transfer`}>
          {(d) => <Budget d={d} />}
        </LoadView>
      )}
    </section>
  );
}

function Budget({ d }: { d: SiteTransfer }) {
  return (
    <>
      <p>
        Current link: <strong>{d.link ?? "unknown"}</strong> · goodput {fmtBytes(d.goodputBytesPerSecond)}/s · budget month {d.month}
        {d.lost > 0 && (
          <>
            {" "}
            · <Badge tone="bad">{d.lost} segments lost before upload</Badge>
          </>
        )}
      </p>
      <table class="table" aria-label="Links">
        <thead>
          <tr>
            <th>Link</th>
            <th>Rate cap</th>
            <th>Monthly budget</th>
            <th>Used (edge count)</th>
            <th>Received at central</th>
            <th>Remaining</th>
            <th>Allowed classes</th>
          </tr>
        </thead>
        <tbody>
          {d.links.map((l) => (
            <tr key={l.link}>
              <td>{l.link}</td>
              <td>{l.rateBitsPerSecond ? `${(l.rateBitsPerSecond / 1e6).toFixed(2)} Mbit/s` : "none"}</td>
              <td>{l.monthlyBytes ? fmtBytes(l.monthlyBytes) : "unlimited"}</td>
              <td>
                {fmtBytes(l.usedBytes)}
                {l.monthlyBytes ? <span class="muted small"> ({((l.usedBytes / l.monthlyBytes) * 100).toFixed(0)} %)</span> : null}
              </td>
              <td>{fmtBytes(l.receivedBytes)}</td>
              <td>{l.remainingBytes === null ? "—" : l.remainingBytes === 0 ? <Badge tone="bad">used up</Badge> : fmtBytes(l.remainingBytes)}</td>
              <td>{l.allow?.join(", ") ?? "all"}</td>
            </tr>
          ))}
          {!d.links.length && (
            <tr>
              <td colSpan={7} class="muted">
                No link profile and no traffic yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>Transfer queue</h2>
      <p aria-label="Queue summary">
        {d.queue.items} items, {fmtBytes(d.queue.bytes)} waiting{d.queue.atRisk > 0 && <> · <Badge tone="warn">{d.queue.atRisk} at risk of being overwritten at the edge</Badge></>}
      </p>
      {Object.keys(d.queue.byClass).length > 0 && (
        <table class="table" aria-label="Queue by class">
          <thead>
            <tr>
              <th>Class</th>
              <th>Items</th>
              <th>Bytes</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(d.queue.byClass).map(([c, q]) => (
              <tr key={c}>
                <td>{c}</td>
                <td>{q.items}</td>
                <td>{fmtBytes(q.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Bytes received per day (last {DAYS} days, UTC)</h2>
      {d.days ? <DayChart days={d.days} /> : <p class="muted">This central does not keep a per-day history.</p>}
    </>
  );
}

/** Stacked bars: one per UTC day, one colour per link. */
export function DayChart({ days }: { days: { day: string; link: string; bytes: number }[] }) {
  const end = days.length ? Date.parse(`${days[days.length - 1]!.day}T00:00:00Z`) : Date.now();
  const today = Math.max(end, Date.parse(new Date().toISOString().slice(0, 10) + "T00:00:00Z"));
  const axis = Array.from({ length: DAYS }, (_, i) => new Date(today - (DAYS - 1 - i) * 86_400_000).toISOString().slice(0, 10));
  const links = [...new Set(days.map((d) => d.link))].sort();
  const total = (day: string) => days.filter((d) => d.day === day).reduce((a, d) => a + d.bytes, 0);
  const max = Math.max(1, ...axis.map(total));
  const W = 900;
  const H = 160;
  const bw = (W - 60) / DAYS;
  return (
    <div>
      <svg class="day-chart" viewBox={`0 0 ${W + 40} ${H + 30}`} role="img" aria-label={`Bytes per day: ${axis.filter((a) => total(a) > 0).map((a) => `${a} ${fmtBytes(total(a))}`).join(", ") || "none yet"}`}>
        <text x={0} y={10}>
          {fmtBytes(max)}
        </text>
        <line x1={55} x2={W} y1={H} y2={H} stroke="#333" />
        {axis.map((day, i) => {
          let y = H;
          return (
            <g key={day} data-day={day} data-bytes={total(day)}>
              <title>{`${day}: ${fmtBytes(total(day))}${links.map((l) => ` · ${l} ${fmtBytes(days.find((d) => d.day === day && d.link === l)?.bytes ?? 0)}`).join("")}`}</title>
              {links.map((l, li) => {
                const b = days.find((d) => d.day === day && d.link === l)?.bytes ?? 0;
                if (!b) return null;
                const h = Math.max(1, (b / max) * (H - 15));
                y -= h;
                return <rect key={l} x={60 + i * bw} y={y} width={bw - 2} height={h} fill={COLORS[li % COLORS.length]} />;
              })}
              {i % 5 === 0 && (
                <text x={60 + i * bw} y={H + 14}>
                  {day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <div class="legend">
        {links.map((l, i) => (
          <span key={l}>
            <i style={{ background: COLORS[i % COLORS.length] }} />
            {l}
          </span>
        ))}
        {!links.length && <span>Nothing received yet.</span>}
      </div>
    </div>
  );
}
