/**
 * Alarm interrupt: when a new alarm reaches this user (central's alarm stream, shared by all
 * tabs), a pop-up in the alarm's priority colour shows its camera live and, beside it, the
 * recording from a few seconds before the alarm moment; Acknowledge takes the alarm, Open goes
 * to it in the alarm list, Dismiss only hides the pop-up. An optional beep (per-user setting,
 * off by default). Several alarms queue behind the most urgent one.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.ts";
import { LivePlayer, type LiveState } from "../live-player.ts";
import { can, type Camera, type Me } from "../model.ts";
import { subscribeEvents } from "../shared-stream.ts";
import type { Alarm } from "./alarms.tsx";
import { beep, setSoundOn, soundOn } from "./alarm-sound.ts";
import { fmtTime, navigate, useApp } from "./common.tsx";
import { IconBell } from "./icons.tsx";
import { priorityColor, priorityLabel } from "./priority.ts";

/** How far before the alarm moment the replay starts, and how long a window it asks for. */
export const REPLAY_BEFORE_MS = 5000;
const REPLAY_AFTER_MS = 10_000;
const REPLAY_RETRY_MS = 2000;
const PROBE_TIMEOUT_MS = 15_000;
const REPLAY_GIVE_UP_MS = 180_000;

/** Central's id of the alarm's camera: events name a site's camera locally ("cam1") or centrally ("site.cam1"). */
export function alarmCameraId(a: Pick<Alarm, "cameraId" | "siteId">, cameras: Camera[] | null): string | null {
  if (!a.cameraId) return null;
  const c = cameras?.find((x) => x.id === a.cameraId || (a.siteId && x.id === `${a.siteId}.${a.cameraId}`));
  return c?.id ?? (a.siteId && !a.cameraId.startsWith(`${a.siteId}.`) ? `${a.siteId}.${a.cameraId}` : a.cameraId);
}

/** May this user take, close, comment on or acknowledge the alarm (PATCH needs 'ack-alarms' on its camera or site)? */
export function canAckAlarm(me: Me | null, a: Pick<Alarm, "cameraId" | "siteId">, cameras: Camera[] | null): boolean {
  return can(me, "ack-alarms", { site: a.siteId, camera: alarmCameraId(a, cameras) ?? undefined });
}

function LiveVideo(p: { camera: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<{ s: LiveState; detail?: string }>({ s: "connecting" });
  useEffect(() => {
    if (!video.current) return;
    const pl = new LivePlayer({ video: video.current, cameraId: p.camera, stream: "sub", onState: (s, detail) => setState({ s, detail }) });
    pl.start();
    return () => pl.stop();
  }, [p.camera]);
  return (
    <figure class="alarm-video" data-kind="live" data-state={state.s}>
      <video ref={video} muted playsInline autoPlay />
      <figcaption>
        <span class={`live-dot live-${state.s}`} aria-hidden="true" /> Live {state.s === "playing" ? "" : `— ${state.detail ?? state.s}`}
      </figcaption>
    </figure>
  );
}

type ReplayState = { s: "waiting"; detail: string } | { s: "ready"; url: string; originMs: number } | { s: "failed"; detail: string };

/** The recording around the alarm moment from central (which fetches edge-only parts first). */
function Replay(p: { camera: string; atMs: number }) {
  const video = useRef<HTMLVideoElement>(null);
  const [st, setSt] = useState<ReplayState>({ s: "waiting", detail: "asking central for the recording…" });
  const [cursor, setCursor] = useState<number | null>(null);
  const [startedAt, setStartedAt] = useState<number | null>(null);
  const [round, setRound] = useState(0);
  const from = p.atMs - REPLAY_BEFORE_MS;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = Date.now();
    // wait=0: central answers at once (202 while it fetches from the site) instead of holding the request
    const url = `/api/v1/cameras/${encodeURIComponent(p.camera)}/video?from=${new Date(from).toISOString()}&to=${new Date(p.atMs + REPLAY_AFTER_MS).toISOString()}&stream=main&wait=0`;
    const probe = async () => {
      // One byte tells whether central has the window (206), is still fetching it from the site (202) or has nothing yet (404).
      const r = await fetch(url, { credentials: "same-origin", headers: { range: "bytes=0-0" }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).catch(() => null);
      if (!live) return;
      if (r && (r.status === 206 || r.status === 200)) {
        await r.body?.cancel();
        return setSt({ s: "ready", url, originMs: Date.parse(r.headers.get("x-outpost-start") ?? "") || from });
      }
      const body = r ? ((await r.json().catch(() => ({}))) as { detail?: string }) : {};
      const why = !r ? "central did not answer; asking again" : r.status === 202 ? "fetching the recording from the site…" : r.status === 404 ? "not recorded at central yet; waiting for the site" : (body.detail ?? `central answered ${r.status}`);
      if (r && r.status !== 202 && r.status !== 404) return setSt({ s: "failed", detail: why });
      if (Date.now() - started > REPLAY_GIVE_UP_MS) return setSt({ s: "failed", detail: `${why} — gave up after ${REPLAY_GIVE_UP_MS / 1000} s` });
      setSt({ s: "waiting", detail: why });
      timer = setTimeout(() => void probe(), REPLAY_RETRY_MS);
    };
    setStartedAt(null);
    void probe();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [p.camera, p.atMs, round]);
  const origin = st.s === "ready" ? st.originMs : 0;
  return (
    <figure class="alarm-video" data-kind="replay" data-state={st.s} data-from={startedAt ?? ""}>
      {st.s === "ready" ? (
        <video
          ref={video}
          key={st.url + round}
          src={st.url}
          muted
          playsInline
          autoPlay
          onLoadedMetadata={(e) => {
            // the recording may begin before the window asked for: start a few seconds before the alarm
            const skip = (from - origin) / 1000;
            if (skip > 0 && skip < e.currentTarget.duration) e.currentTarget.currentTime = skip;
          }}
          onTimeUpdate={(e) => {
            const t = origin + e.currentTarget.currentTime * 1000;
            setCursor(t);
            setStartedAt((s) => s ?? t); // the first picture shown: a few seconds before the alarm
          }}
        />
      ) : (
        <div class="alarm-video-wait" role="status">
          {st.detail}
        </div>
      )}
      <figcaption>
        From the alarm moment {cursor !== null && <span class="mono">{fmtTime(cursor, false)}</span>}
        {cursor !== null && cursor >= p.atMs - 500 && cursor <= p.atMs + 1500 && <strong class="alarm-now"> ◀ alarm</strong>}
        {st.s !== "waiting" && (
          <button class="chip" onClick={() => setRound((r) => r + 1)} title="Ask central again (more may have arrived)">
            replay
          </button>
        )}
      </figcaption>
    </figure>
  );
}

export function AlarmPopup() {
  const { me, cameras, notify } = useApp();
  const user = me?.user ?? "";
  const [queue, setQueue] = useState<Alarm[]>([]);
  const [sound, setSound] = useState(() => soundOn(user));
  const [beeps, setBeeps] = useState(0);
  const soundRef = useRef(sound);
  soundRef.current = sound;
  useEffect(() => {
    const on = () => setSound(soundOn(user));
    addEventListener("outpost-alarm-sound", on);
    return () => removeEventListener("outpost-alarm-sound", on);
  }, [user]);
  useEffect(
    () =>
      // the same event types as the other subscribers: the first to subscribe opens the shared stream with its list
      subscribeEvents("/api/v1/alarms/stream", user, ["alarm", "ready"], (type, data) => {
        if (type !== "alarm") return; // alarms raised while the stream was down are in the list, not popped up late
        const { kind, alarm } = JSON.parse(data) as { kind: string; alarm: Alarm };
        if (kind === "created" && alarm.state === "new") {
          setQueue((q) => (q.some((a) => a.id === alarm.id) ? q : [...q, alarm]));
          if (soundRef.current && beep(alarm.priority)) setBeeps((n) => n + 1);
        } else if (alarm.state !== "new") setQueue((q) => q.filter((a) => a.id !== alarm.id)); // taken or closed elsewhere
      }),
    [user],
  );
  const a = [...queue].sort((x, y) => x.priority - y.priority || Date.parse(y.createdAt) - Date.parse(x.createdAt))[0];
  const dismiss = (id: number) => setQueue((q) => q.filter((x) => x.id !== id));
  useEffect(() => {
    if (!a) return;
    const k = (e: KeyboardEvent) => e.key === "Escape" && dismiss(a.id);
    addEventListener("keydown", k);
    return () => removeEventListener("keydown", k);
  }, [a?.id]);
  if (!a) return null;
  const camera = alarmCameraId(a, cameras);
  const at = Date.parse(a.eventTime);
  const color = priorityColor(a.priority);
  const acknowledge = async () => {
    try {
      await api("PATCH", `/api/v1/alarms/${a.id}`, { state: "in-progress" });
      dismiss(a.id);
      notify(`Alarm "${a.title}" acknowledged — it is yours now.`);
    } catch (e) {
      notify((e as Error).message, "error");
    }
  };
  return (
    <div class="modal-back alarm-back">
      <div class="modal alarm-popup" role="alertdialog" aria-modal="true" aria-label={`Alarm: ${a.title}`} data-alarm={a.id} data-priority={a.priority} data-beeps={beeps} style={{ borderColor: color }}>
        <header style={{ background: color }}>
          <IconBell />
          <h2>
            P{a.priority} · {a.title}
          </h2>
          <span class="alarm-pri">{priorityLabel(a.priority)}</span>
          {queue.length > 1 && <span class="badge badge-dim">+{queue.length - 1} more</span>}
        </header>
        <div class="modal-body">
          <div class="alarm-meta">
            <span>{[a.siteId, a.cameraId].filter(Boolean).join(" / ") || "no camera"}</span>
            <span>
              {a.eventType} at <strong>{fmtTime(a.eventTime)}</strong>
              {a.late ? " (arrived late)" : ""}
            </span>
          </div>
          {a.instructions && <p class="alarm-instructions">{a.instructions}</p>}
          {camera ? (
            <div class="alarm-videos">
              <LiveVideo camera={camera} />
              <Replay camera={camera} atMs={at} />
            </div>
          ) : (
            <p class="muted">This alarm names no camera.</p>
          )}
          <div class="actions">
            {canAckAlarm(me, a, cameras) && (
              <button class="primary" onClick={acknowledge}>
                Acknowledge
              </button>
            )}
            <button
              onClick={() => {
                dismiss(a.id);
                navigate(`/alarms?alarm=${a.id}`);
              }}
            >
              Open
            </button>
            <button class="ghost" onClick={() => dismiss(a.id)} title="Hide this pop-up; the alarm stays open in the list (Esc)">
              Dismiss
            </button>
            <span class="spacer" />
            <SoundToggle />
          </div>
        </div>
      </div>
    </div>
  );
}

/** The per-user "beep on new alarms" switch (the pop-up and the alarm list show it). */
export function SoundToggle() {
  const { me } = useApp();
  const user = me?.user ?? "";
  const [on, setOn] = useState(() => soundOn(user));
  useEffect(() => {
    const f = () => setOn(soundOn(user));
    addEventListener("outpost-alarm-sound", f);
    return () => removeEventListener("outpost-alarm-sound", f);
  }, [user]);
  return (
    <label class="label check">
      <input type="checkbox" checked={on} onChange={(e) => setSoundOn(user, e.currentTarget.checked)} /> Sound on new alarms
    </label>
  );
}
