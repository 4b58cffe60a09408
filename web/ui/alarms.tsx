/** Alarms: live list over SSE (rows in their priority colour), take/close, comments, open the alarm's clip in playback. */
import { useEffect, useState } from "preact/hooks";
import { api, get } from "../api.ts";
import { Badge, Notice, fmtTime, listKeys, navigate, useApp } from "./common.tsx";
import { subscribeEvents } from "../shared-stream.ts";
import { SoundToggle, alarmCameraId, canAckAlarm } from "./alarm-popup.tsx";
import { priorityColor, priorityLabel } from "./priority.ts";
import { cameraWithSite, eventWords, siteName } from "./words.ts";

export interface Alarm {
  id: number;
  state: "new" | "in-progress" | "closed";
  priority: number;
  title: string;
  instructions: string;
  siteId: string | null;
  cameraId: string | null;
  eventType: string;
  eventTime: string;
  late: boolean;
  assignee: string | null;
  createdAt: string;
  updatedAt: string;
  clip?: { state: string; from: string; to: string; url: string | null; detail?: string } | null;
  comments?: { user: string; text: string; at: string }[];
}

/**
 * Alarm changes pushed by central; one stream per browser, shared by all tabs
 * (web/shared-stream.ts). `onReady` runs each time the stream (re)connects, in every tab: events
 * sent while it was down (e.g. while another tab took the stream over) are not replayed, so the
 * caller reloads what it shows.
 */
function subscribe(user: string, fn: (kind: string, a: Alarm) => void, onReady: () => void): () => void {
  return subscribeEvents("/api/v1/alarms/stream", user, ["alarm", "ready"], (type, data) => {
    if (type === "ready") return onReady();
    const d = JSON.parse(data) as { kind: string; alarm: Alarm };
    fn(d.kind, d.alarm);
  });
}

/** Open (not closed) alarms, for the tab badge. */
export function useAlarmCount(enabled: boolean, user: string): number {
  const [open, setOpen] = useState<Map<number, string>>(new Map());
  useEffect(() => {
    if (!enabled) return;
    const load = () => get<{ alarms: Alarm[] }>("/api/v1/alarms?state=new").then((r) => setOpen(new Map(r.alarms.map((a) => [a.id, a.state]))), () => undefined);
    void load();
    return subscribe(
      user,
      (_k, a) =>
        setOpen((m) => {
          const n = new Map(m);
          if (a.state === "new") n.set(a.id, a.state);
          else n.delete(a.id);
          return n;
        }),
      () => void load(),
    );
  }, [enabled, user]);
  return open.size;
}

function Pri(p: { priority: number }) {
  return (
    <span class="pri" style={{ background: priorityColor(p.priority) }} title={`priority ${p.priority} (${priorityLabel(p.priority)})`}>
      P{p.priority}
    </span>
  );
}

export function AlarmsView(p: { params: URLSearchParams }) {
  const { notify, cameras, sites, me } = useApp();
  const [alarms, setAlarms] = useState<Alarm[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [sel, setSel] = useState<number | null>(() => Number(p.params.get("alarm")) || null);
  const [detail, setDetail] = useState<Alarm | null>(null);
  const [comment, setComment] = useState("");
  const [showClosed, setShowClosed] = useState(false);
  useEffect(() => {
    const load = () => get<{ alarms: Alarm[] }>(`/api/v1/alarms?limit=200`).then((r) => setAlarms(r.alarms), (e) => setErr((e as Error).message));
    void load();
    return subscribe(
      me?.user ?? "",
      (_k, a) => {
        setAlarms((l) => [a, ...(l ?? []).filter((x) => x.id !== a.id)]);
        setDetail((d) => (d && d.id === a.id ? { ...d, ...a } : d));
      },
      () => void load(),
    );
  }, [me?.user]);
  useEffect(() => {
    if (sel == null) return setDetail(null);
    get<Alarm>(`/api/v1/alarms/${sel}`).then(setDetail, (e) => notify((e as Error).message, "error"));
  }, [sel]);
  const patch = async (body: Record<string, unknown>) => {
    if (!detail) return;
    try {
      await api<Alarm>("PATCH", `/api/v1/alarms/${detail.id}`, body);
      setDetail(await get<Alarm>(`/api/v1/alarms/${detail.id}`));
      if (body.comment) setComment("");
    } catch (e) {
      notify((e as Error).message, "error");
    }
  };
  const openClip = (a: Alarm) => {
    const cam = alarmCameraId(a, cameras);
    if (!cam) return;
    navigate(`/playback?camera=${encodeURIComponent(cam)}&t=${encodeURIComponent(a.clip?.from ?? a.eventTime)}`);
  };
  if (err) return <Notice kind="error">{err}</Notice>;
  const list = (alarms ?? []).filter((a) => showClosed || a.state !== "closed").sort((a, b) => (a.state === "closed" ? 1 : 0) - (b.state === "closed" ? 1 : 0) || a.priority - b.priority || Date.parse(b.createdAt) - Date.parse(a.createdAt));
  return (
    <div class="split">
      <section class="list-pane">
        <div class="toolbar">
          <h1 class="inline">Alarms</h1>
          <span class="spacer" />
          <SoundToggle />
          <label class="label">
            <input type="checkbox" checked={showClosed} onChange={(e) => setShowClosed(e.currentTarget.checked)} /> show closed
          </label>
        </div>
        <table class="table alarms" aria-label="Alarms">
          <thead>
            <tr>
              <th>Pri</th>
              <th>Alarm</th>
              <th>Source</th>
              <th>Time</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody onKeyDown={(e) => listKeys(e as unknown as KeyboardEvent)}>
            {list.map((a) => (
              <tr
                key={a.id}
                data-row
                data-alarm={a.id}
                tabIndex={0}
                class={`pri-row${sel === a.id ? " selected" : a.state === "new" ? " unread" : ""}`}
                style={{ borderLeftColor: priorityColor(a.priority) }}
                onClick={() => setSel(a.id)}
                onKeyDown={(e) => e.key === "Enter" && setSel(a.id)}
              >
                <td>
                  <Pri priority={a.priority} />
                </td>
                <td class="title">{a.title}</td>
                <td>{a.cameraId ? cameraWithSite(cameras, sites, a.cameraId, a.siteId) : a.siteId ? siteName(sites, a.siteId) : "—"}</td>
                <td title={a.late ? "arrived late (the site was offline)" : ""}>
                  {fmtTime(a.eventTime)}
                  {a.late && " ⌛"}
                </td>
                <td>
                  <Badge tone={a.state === "new" ? "bad" : a.state === "in-progress" ? "warn" : "dim"}>{a.state}</Badge>
                </td>
              </tr>
            ))}
            {alarms && !list.length && (
              <tr>
                <td colSpan={5} class="muted">
                  No open alarms.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
      <section class="detail-pane" aria-label="Alarm details">
        {detail ? (
          <>
            <h2>
              <Pri priority={detail.priority} /> {detail.title}
            </h2>
            <dl class="kv">
              <dt>State</dt>
              <dd>{detail.state}{detail.assignee ? ` — ${detail.assignee}` : ""}</dd>
              <dt>Event</dt>
              <dd>{eventWords(detail.eventType)} at {fmtTime(detail.eventTime)}{detail.late ? " (arrived late)" : ""}</dd>
              <dt>Source</dt>
              <dd>{detail.cameraId ? cameraWithSite(cameras, sites, detail.cameraId, detail.siteId) : detail.siteId ? siteName(sites, detail.siteId) : "—"}</dd>
              <dt>Clip</dt>
              <dd>{detail.clip ? `${detail.clip.state}${detail.clip.detail ? ` — ${detail.clip.detail}` : ""}` : "none"}</dd>
            </dl>
            {detail.instructions && <Notice>{detail.instructions}</Notice>}
            <div class="actions">
              <button onClick={() => openClip(detail)} disabled={!detail.cameraId} class="primary">
                Open clip
              </button>
              {canAckAlarm(me, detail, cameras) && (
                <>
                  <button onClick={() => patch({ state: "in-progress" })} disabled={detail.state !== "new"}>
                    Take
                  </button>
                  <button onClick={() => patch({ state: "closed" })} disabled={detail.state === "closed"}>
                    Close
                  </button>
                </>
              )}
            </div>
            <h3>Comments</h3>
            <ul class="comments">
              {(detail.comments ?? []).map((c, i) => (
                <li key={i}>
                  <strong>{c.user}</strong> <span class="muted small">{fmtTime(c.at)}</span>
                  <div>{c.text}</div>
                </li>
              ))}
            </ul>
            {canAckAlarm(me, detail, cameras) && (
              <form
                class="form-row"
                onSubmit={(e) => {
                  e.preventDefault();
                  if (comment.trim()) void patch({ comment: comment.trim() });
                }}
              >
                <input aria-label="Comment" placeholder="Add a comment" value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
                <button type="submit">Comment</button>
              </form>
            )}
          </>
        ) : (
          <p class="muted pad">Select an alarm to see details and act on it.</p>
        )}
      </section>
    </div>
  );
}
