/**
 * Transfers (edge only): this recorder's uploads to central — the link, measured bytes/s, what
 * is being sent now and what waits, most urgent first. Reads GET /api/v1/transfers every 2 s.
 */
import { useEffect, useState } from "preact/hooks";
import { getOptional } from "../api.ts";
import { Badge, Notice, fmtBytes, fmtTime, useApp } from "./common.tsx";
import { cameraName } from "./words.ts";

interface Item {
  cameraId: string;
  stream: string;
  start: string;
  class: string;
  bytes: number;
  sentBytes: number;
  progress?: number;
}

interface Transfers {
  enrolled: boolean;
  link: string | null;
  connected: boolean;
  bytesPerSecond: number | null;
  current: Item[];
  queue: { items: number; bytes: number; byClass: Record<string, { items: number; bytes: number }>; next: Item[] };
  usage: { month: string; byLink: Record<string, number> } | null;
  budgetBlocked: boolean;
}

const CLASSES = ["alarm", "request", "event", "scheduled", "backfill"];

export function TransfersView() {
  const { cameras, sites } = useApp();
  const [t, setT] = useState<Transfers | null | undefined>(undefined);
  const [err, setErr] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    getOptional<Transfers>("/api/v1/transfers").then(
      (r) => {
        setT(r);
        setErr(null);
      },
      (e) => setErr((e as Error).message),
    );
    const timer = setTimeout(() => setN((x) => x + 1), 2000);
    return () => clearTimeout(timer);
  }, [n]);
  if (t === null) return <Notice kind="missing">This recorder has no transfer queue.</Notice>;
  if (t === undefined) return <div class="muted pad">{err ? <Notice kind="error">{err}</Notice> : "Loading transfers…"}</div>;
  const eta = t.bytesPerSecond && t.queue.bytes ? Math.ceil(t.queue.bytes / t.bytesPerSecond) : null;
  return (
    <div class="pad page" aria-label="Transfers to central">
      <h1>Transfers to central</h1>
      {err && <Notice kind="error">{err}</Notice>}
      {!t.enrolled ? (
        <Notice kind="info">This recorder is not enrolled with a central site: nothing is uploaded.</Notice>
      ) : (
        <>
          <p class="form-row" data-transfer-summary>
            <span>
              Link <strong>{t.link}</strong>
            </span>
            {t.connected ? <Badge tone="ok">central reachable</Badge> : <Badge tone="warn">central not reachable</Badge>}
            {t.budgetBlocked && <Badge tone="bad">monthly budget reached</Badge>}
            <span data-rate>{t.bytesPerSecond ? `${fmtBytes(t.bytesPerSecond)}/s` : t.current.length ? "measuring…" : "idle"}</span>
            <span>
              queue {t.queue.items} segment{t.queue.items === 1 ? "" : "s"}, {fmtBytes(t.queue.bytes)}
              {eta !== null ? ` (≈ ${eta} s at the measured rate)` : ""}
            </span>
          </p>
          <table class="table" aria-label="Sending now">
            <thead>
              <tr>
                <th>Sending now</th>
                <th>Class</th>
                <th>Progress</th>
                <th>Size</th>
              </tr>
            </thead>
            <tbody>
              {t.current.map((c) => (
                <tr key={`${c.cameraId}/${c.stream}/${c.start}`} data-current>
                  <td>
                    {cameraName(cameras, sites, c.cameraId)} {c.stream} · {fmtTime(c.start)}
                  </td>
                  <td>{c.class}</td>
                  <td>
                    <progress max={100} value={c.progress ?? 0} aria-label={`upload ${c.progress ?? 0} %`} /> {c.progress ?? 0} %
                  </td>
                  <td>{fmtBytes(c.bytes)}</td>
                </tr>
              ))}
              {!t.current.length && (
                <tr>
                  <td colSpan={4} class="muted">
                    Nothing is being sent.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h2>Waiting</h2>
          <p>
            {CLASSES.filter((c) => t.queue.byClass[c]).map((c) => (
              <Badge key={c} tone={c === "alarm" ? "bad" : c === "request" ? "warn" : "info"}>
                {c}: {t.queue.byClass[c]!.items} · {fmtBytes(t.queue.byClass[c]!.bytes)}
              </Badge>
            ))}
          </p>
          <table class="table" aria-label="Waiting">
            <tbody>
              {t.queue.next.slice(0, 30).map((q) => (
                <tr key={`${q.cameraId}/${q.stream}/${q.start}`} data-queued>
                  <td>
                    {cameraName(cameras, sites, q.cameraId)} {q.stream} · {fmtTime(q.start)}
                  </td>
                  <td>{q.class}</td>
                  <td>{fmtBytes(q.bytes - q.sentBytes)}</td>
                </tr>
              ))}
              {!t.queue.next.length && (
                <tr>
                  <td colSpan={3} class="muted">
                    Nothing waits.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          {t.usage && (
            <p class="muted">
              This month ({t.usage.month}):{" "}
              {Object.entries(t.usage.byLink)
                .map(([l, b]) => `${l} ${fmtBytes(b)}`)
                .join(", ") || "nothing sent"}
            </p>
          )}
        </>
      )}
    </div>
  );
}
