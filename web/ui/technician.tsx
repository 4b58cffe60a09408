/**
 * Edge technician screen (the edge's own client): every camera's state with its last error and a
 * snapshot, storage (volume, each camera's retention horizon and oldest footage), the link to
 * central (connected, last ack, outbox, certificate, refused), time and clock trust, version and
 * firmware slot. Reads GET /api/v1/health (with the session) and GET /api/v1/cameras/{id}/snapshot.jpg.
 */
import "./panels.css";
import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.ts";
import { Badge, LoadView, fmtAgo, fmtBytes, fmtDuration, fmtTime, useLoad } from "./common.tsx";

interface Stream {
  cameraId: string;
  stream: string;
  state: string;
  reason?: string;
  detail?: string;
  since: string;
  bitrateKbps: number;
  fps: number;
  lastFragmentAt: string | null;
  codec?: string;
  width?: number;
  height?: number;
  lastError?: { reason: string; detail?: string; at: string };
}
interface CamStore {
  cameraId: string;
  bytes: number;
  oldestFootage: string | null;
  newestFootage: string | null;
  retention: { maxAgeHours: number | null; maxBytes: number | null; horizon: string | null };
}
export interface TechHealth {
  name: string;
  time: string;
  startedAt: string;
  clock: { trusted: boolean; offsetToCentralMs: number | null; reference: string; lastStep?: { at: string; stepMs: number } };
  disk: { full: boolean };
  streams: Stream[];
  storage?: { volumes: { path: string; totalBytes: number; freeBytes: number; storeBytes: number; maxTotalBytes: number | null; minFreeBytes: number }[]; cameras: CamStore[] };
  central?:
    | { enrolled: false }
    | {
        enrolled: true;
        siteId: string;
        connected: boolean;
        connects: number;
        lastAck: string | null;
        outbox: { pending: number; bytes: number; dropped: number } | null;
        certificate: { notAfter: string | null; daysLeft: number | null };
        lastError: { reason: string; at: string } | null;
        refused: boolean;
      };
  software?: { version: string; firmware: null | { slot: string; slotVersion: string | null; pending: string | null; lastResult: { version: string; outcome: string; reason: string | null; at: string } | null } };
}

const tone = (state: string) => (state === "recording" ? "ok" : state === "connecting" ? "info" : state === "disabled" || state === "stopped" ? "dim" : "bad");

export function TechnicianView() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, []);
  const [v] = useLoad(() => get<TechHealth>("/api/v1/health"), [tick]);
  // Snapshots refresh less often than the state: each is a decode of recorded footage on the edge.
  const snapTick = Math.floor(tick / 6);
  return (
    <section class="pad">
      <h1>Technician</h1>
      <LoadView v={v} what="Edge health" endpoint="GET /api/v1/health">
        {(h) => (
          <>
            <h2>Cameras</h2>
            <div class="panel-grid" aria-label="Cameras">
              {[...new Set(h.streams.map((s) => s.cameraId))].map((id) => (
                <CameraCard key={id} id={id} streams={h.streams.filter((s) => s.cameraId === id)} store={h.storage?.cameras.find((c) => c.cameraId === id)} snapTick={snapTick} />
              ))}
              {!h.streams.length && <p class="muted">No camera configured on this recorder.</p>}
            </div>
            <div class="panel-grid">
              <Storage h={h} />
              <Central h={h} />
              <TimeCard h={h} />
              <Software h={h} />
            </div>
          </>
        )}
      </LoadView>
    </section>
  );
}

function CameraCard(p: { id: string; streams: Stream[]; store?: CamStore; snapTick: number }) {
  const main = p.streams.find((s) => s.stream === "main") ?? p.streams[0]!;
  const [snapErr, setSnapErr] = useState(false);
  useEffect(() => setSnapErr(false), [p.snapTick]);
  const lastErr = p.streams.map((s) => s.lastError).filter(Boolean).sort((a, b) => Date.parse(b!.at) - Date.parse(a!.at))[0];
  return (
    <div class="panel-card" data-camera={p.id} role="region" aria-label={`Camera ${p.id}`}>
      <h3>
        {p.id} <Badge tone={tone(main.state)}>{main.state}</Badge>
      </h3>
      {snapErr ? (
        <div class="snap-missing">No snapshot: nothing recorded yet to decode.</div>
      ) : (
        <img class="snap" alt={`Snapshot of ${p.id}`} src={`/api/v1/cameras/${encodeURIComponent(p.id)}/snapshot.jpg?stream=${main.stream === "sub" ? "sub" : "main"}&n=${p.snapTick}`} onError={() => setSnapErr(true)} />
      )}
      <dl class="kv">
        {p.streams.map((s) => (
          <Fragment key={s.stream}>
            <dt>{s.stream}</dt>
            <dd data-stream={s.stream}>
              {s.state} since {fmtAgo(s.since)}
              {s.state === "recording" ? ` · ${s.fps} fps · ${s.bitrateKbps} kbit/s${s.width ? ` · ${s.width}×${s.height}` : ""}` : s.detail ? ` — ${s.detail}` : s.reason ? ` — ${s.reason}` : ""}
            </dd>
          </Fragment>
        ))}
        <dt>Last error</dt>
        <dd class="last-error">{lastErr ? `${lastErr.reason}${lastErr.detail ? `: ${lastErr.detail}` : ""} (${fmtAgo(lastErr.at)})` : "none since start"}</dd>
        {p.store && (
          <>
            <dt>Oldest footage</dt>
            <dd>{p.store.oldestFootage ? `${fmtTime(p.store.oldestFootage)} (${fmtAgo(p.store.oldestFootage)})` : "none"}</dd>
            <dt>Stored</dt>
            <dd>{fmtBytes(p.store.bytes)}</dd>
          </>
        )}
      </dl>
    </div>
  );
}

function Storage({ h }: { h: TechHealth }) {
  if (!h.storage) return null;
  return (
    <div class="panel-card" role="region" aria-label="Storage">
      <h3>Storage {h.disk.full ? <Badge tone="bad">full</Badge> : <Badge tone="ok">writable</Badge>}</h3>
      {h.storage.volumes.map((v) => (
        <dl class="kv" key={v.path}>
          <dt>Volume</dt>
          <dd>
            {fmtBytes(v.freeBytes)} free of {fmtBytes(v.totalBytes)} ({v.totalBytes ? ((v.freeBytes / v.totalBytes) * 100).toFixed(0) : 0} %)
          </dd>
          <dt>Recordings</dt>
          <dd>
            {fmtBytes(v.storeBytes)}
            {v.maxTotalBytes ? ` of at most ${fmtBytes(v.maxTotalBytes)}` : ""}
          </dd>
          <dt>Kept free</dt>
          <dd>{fmtBytes(v.minFreeBytes)}</dd>
        </dl>
      ))}
      <table class="table" aria-label="Retention">
        <thead>
          <tr>
            <th>Camera</th>
            <th>Keeps</th>
            <th>Oldest footage</th>
          </tr>
        </thead>
        <tbody>
          {h.storage.cameras.map((c) => (
            <tr key={c.cameraId}>
              <td>{c.cameraId}</td>
              <td>
                {c.retention.maxAgeHours !== null ? fmtDuration(c.retention.maxAgeHours * 3_600_000) : "until space runs out"}
                {c.retention.maxBytes ? ` / ${fmtBytes(c.retention.maxBytes)}` : ""}
              </td>
              <td>{c.oldestFootage ? fmtAgo(c.oldestFootage) : "none"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Central({ h }: { h: TechHealth }) {
  const c = h.central;
  if (!c) return null;
  return (
    <div class="panel-card" role="region" aria-label="Link to central">
      <h3>
        Link to central{" "}
        {!c.enrolled ? <Badge tone="dim">not enrolled</Badge> : c.refused ? <Badge tone="bad">refused by central</Badge> : c.connected ? <Badge tone="ok">connected</Badge> : <Badge tone="warn">disconnected</Badge>}
      </h3>
      {c.enrolled ? (
        <dl class="kv">
          <dt>Site id</dt>
          <dd>{c.siteId}</dd>
          <dt>Last ack</dt>
          <dd>{c.lastAck ? `${fmtAgo(c.lastAck)} (${fmtTime(c.lastAck, false)})` : "none since start"}</dd>
          <dt>Outbox</dt>
          <dd>{c.outbox ? `${c.outbox.pending} messages, ${fmtBytes(c.outbox.bytes)} waiting${c.outbox.dropped ? `, ${c.outbox.dropped} dropped` : ""}` : "—"}</dd>
          <dt>Certificate</dt>
          <dd>
            {c.certificate.notAfter ? `expires ${fmtTime(c.certificate.notAfter)}` : "—"}{" "}
            {c.certificate.daysLeft !== null && <Badge tone={c.certificate.daysLeft < 14 ? "warn" : "ok"}>{`${c.certificate.daysLeft} days left`}</Badge>}
          </dd>
          <dt>Revoked</dt>
          <dd>{c.refused ? "central refuses this edge's certificate (revoked or replaced): enroll again" : "no sign of it"}</dd>
          <dt>Last failure</dt>
          <dd>{c.lastError ? `${c.lastError.reason} (${fmtAgo(c.lastError.at)})` : "none since start"}</dd>
          <dt>Connects</dt>
          <dd>{c.connects}</dd>
        </dl>
      ) : (
        <p class="muted">This recorder is not enrolled with a central site; it records on its own.</p>
      )}
    </div>
  );
}

function TimeCard({ h }: { h: TechHealth }) {
  return (
    <div class="panel-card" role="region" aria-label="Time">
      <h3>Time {h.clock.trusted ? <Badge tone="ok">trusted</Badge> : <Badge tone="bad">not trusted</Badge>}</h3>
      <dl class="kv">
        <dt>Recorder time</dt>
        <dd>{fmtTime(h.time)}</dd>
        <dt>Offset to central</dt>
        <dd>{h.clock.offsetToCentralMs === null ? "unknown (no reference)" : `${h.clock.offsetToCentralMs > 0 ? "+" : ""}${h.clock.offsetToCentralMs} ms`}</dd>
        <dt>Reference</dt>
        <dd>{h.clock.reference}</dd>
        <dt>Last clock step</dt>
        <dd>{h.clock.lastStep ? `${h.clock.lastStep.stepMs} ms at ${fmtTime(h.clock.lastStep.at)}` : "none seen"}</dd>
      </dl>
    </div>
  );
}

function Software({ h }: { h: TechHealth }) {
  const s = h.software;
  if (!s) return null;
  return (
    <div class="panel-card" role="region" aria-label="Software">
      <h3>Software</h3>
      <dl class="kv">
        <dt>Version</dt>
        <dd>{s.version}</dd>
        <dt>Running since</dt>
        <dd>{fmtTime(h.startedAt)}</dd>
        <dt>Firmware slot</dt>
        <dd>{s.firmware ? `${s.firmware.slot}${s.firmware.slotVersion ? ` (${s.firmware.slotVersion})` : ""}${s.firmware.pending ? `, trying slot ${s.firmware.pending}` : ""}` : "not an appliance install (no A/B slots)"}</dd>
        {s.firmware?.lastResult && (
          <>
            <dt>Last update</dt>
            <dd>
              {s.firmware.lastResult.version} {s.firmware.lastResult.outcome}
              {s.firmware.lastResult.reason ? `: ${s.firmware.lastResult.reason}` : ""} ({fmtTime(s.firmware.lastResult.at)})
            </dd>
          </>
        )}
      </dl>
    </div>
  );
}
