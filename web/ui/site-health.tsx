/**
 * Admin → Health: every site's last health report (disk, bitrate, fps, clock offset, outbox,
 * certificate expiry) from GET /api/v1/site-health — one request for the fleet, answered from
 * central's memory (one GET /api/v1/sites/{id} per site waited behind the database under load).
 */
import "./panels.css";
import { get } from "../api.ts";
import { Badge, LoadView, fmtAgo, fmtBytes, useApp, useLoad } from "./common.tsx";

interface Health {
  at: string;
  disk: { totalBytes: number; freeBytes: number; storeBytes: number };
  streams: { cameraId: string; stream: string; state: string; detail?: string; bitrateKbps: number; fps: number }[];
  link: { type: string; quality: number | null };
  clock: { offsetMs: number | null; trusted: boolean };
  cert: { notAfter: string | null; daysLeft: number | null };
  software: { version: string };
  outbox: { pending: number; bytes: number; dropped: number };
}
interface SiteHealth {
  id: string;
  latest: Health;
}
interface Row {
  id: string;
  name: string;
  online: boolean;
  latest: Health | null;
}

export function SiteHealthAdmin() {
  const { sites } = useApp();
  const ids = sites.map((s) => s.id).join(",");
  const [v, reload] = useLoad(() => get<{ sites: SiteHealth[] }>("/api/v1/site-health"), [ids]);
  // Rows are the sites listed now (names, online state), each with its report if central has one.
  const rows = (reports: SiteHealth[]): Row[] => sites.map((s) => ({ id: s.id, name: s.name, online: s.online, latest: reports.find((h) => h.id === s.id)?.latest ?? null }));
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Site health</h1>
        <span class="spacer" />
        <button onClick={reload}>Refresh</button>
      </div>
      <p class="muted small">Each edge reports its health over the control plane (every 30 s by default). Values are the last report.</p>
      <LoadView v={v} what="Site health" endpoint="GET /api/v1/site-health">
        {(answer) => (
          <table class="table" aria-label="Site health">
            <thead>
              <tr>
                <th>Site</th>
                <th>Reported</th>
                <th>Disk free</th>
                <th>Bitrate</th>
                <th>Streams / fps</th>
                <th>Clock offset</th>
                <th>Outbox</th>
                <th>Certificate</th>
                <th>Version</th>
              </tr>
            </thead>
            <tbody>
              {rows(answer.sites).map((s) => (
                <HealthRow key={s.id} s={s} />
              ))}
              {/* Reports without a site list: the list has not arrived yet (not "no sites"). */}
              {!sites.length && !answer.sites.length && (
                <tr>
                  <td colSpan={9} class="muted">
                    No sites enrolled yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        )}
      </LoadView>
    </section>
  );
}

function HealthRow({ s }: { s: Row }) {
  const h = s.latest;
  if (!h)
    return (
      <tr data-site={s.name}>
        <td>{s.name}</td>
        <td colSpan={8} class="muted">
          {s.online ? "online, no health report yet" : "never reported health"}
        </td>
      </tr>
    );
  const freePct = h.disk.totalBytes ? (h.disk.freeBytes / h.disk.totalBytes) * 100 : 0;
  const kbps = h.streams.reduce((a, x) => a + x.bitrateKbps, 0);
  const recording = h.streams.filter((x) => x.state === "recording");
  const fps = recording.length ? recording.reduce((a, x) => a + x.fps, 0) / recording.length : 0;
  const days = h.cert.daysLeft;
  return (
    <tr data-site={s.name}>
      <td>
        {s.name} {s.online ? <Badge tone="ok">online</Badge> : <Badge tone="dim">offline</Badge>}
      </td>
      <td title={h.at}>{fmtAgo(h.at)}</td>
      <td>
        <span class={freePct < 10 ? "bad" : ""}>{fmtBytes(h.disk.freeBytes)}</span> <span class="muted small">of {fmtBytes(h.disk.totalBytes)} ({freePct.toFixed(0)} %)</span>
      </td>
      <td>{kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`}</td>
      <td title={h.streams.map((x) => `${x.cameraId}/${x.stream}: ${x.state}${x.detail ? ` (${x.detail})` : ""}, ${x.fps.toFixed(1)} fps`).join("\n")}>
        {recording.length}/{h.streams.length} recording, {fps.toFixed(1)} fps
      </td>
      <td>
        {h.clock.offsetMs === null ? "unknown" : `${h.clock.offsetMs > 0 ? "+" : ""}${h.clock.offsetMs} ms`} {h.clock.trusted ? <Badge tone="ok">trusted</Badge> : <Badge tone="warn">not trusted</Badge>}
      </td>
      <td>
        {h.outbox.pending} msg <span class="muted small">{fmtBytes(h.outbox.bytes)}</span>
        {h.outbox.dropped > 0 && <Badge tone="warn">{h.outbox.dropped} dropped</Badge>}
      </td>
      <td>{days === null ? "—" : <Badge tone={days < 14 ? (days < 3 ? "bad" : "warn") : "ok"} title={h.cert.notAfter ?? ""}>{`${days} days left`}</Badge>}</td>
      <td>{h.software.version}</td>
    </tr>
  );
}
