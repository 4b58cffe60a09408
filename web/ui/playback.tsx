/** Playback of one camera: timeline, click to play, speed, frame step, and actions on a selected range (export, evidence lock, retrieve). */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ROLE, api, getOptional } from "../api.ts";
import { can, loadTimeline, type TRetrieval, type Timeline } from "../model.ts";
import { MAX_SPAN, MIN_SPAN, type TimelineView } from "../timeline-draw.ts";
import { TimelineBar } from "./timeline.tsx";
import { PreviewStrip } from "./preview-strip.tsx";
import { useMarkers } from "./markers.ts";
import { visibleCameras } from "./tree.tsx";
import { IconNext, IconPause, IconPlay, IconPrev } from "./icons.tsx";
import { Notice, fmtDuration, fmtTime, navigate, useApp } from "./common.tsx";
import { exportAtCentral } from "./central-export.ts";
import { nextPlay, retrievalWords, useFrameDuration } from "./playback-flow.ts";
import { cameraName, errorSentence, siteName } from "./words.ts";
import { PositionPanel } from "./playback-position.tsx";
import { RetrievePicker } from "./retrieve-picker.tsx";

const ZOOMS: [string, number][] = [
  ["1 min", 60e3],
  ["10 min", 600e3],
  ["1 h", 3600e3],
  ["6 h", 6 * 3600e3],
  ["1 d", 86400e3],
  ["7 d", 7 * 86400e3],
  ["30 d", 30 * 86400e3],
];
const SPEEDS = [1, 2, 4, 8];
const EMPTY: Timeline = { ranges: [], gaps: [], retrievals: [] };

type RawRetrieval = { id: string; cameraId?: string; camera?: string; from: string; to: string; progress?: number; state: string; etaSeconds?: number | null; priority?: string };

export function PlaybackView(p: { params: URLSearchParams }) {
  const { cameras, sites, me, notify } = useApp();
  const camId = p.params.get("camera");
  const at = p.params.get("t");
  const vis = useMemo(() => visibleCameras(cameras, sites, me), [cameras, sites, me]);
  const cam = vis.find((c) => c.id === camId) ?? null;
  const now = Date.now();
  const [view, setView] = useState<TimelineView>(() => {
    const t = at ? Date.parse(at) : now;
    return { fromMs: t - 30 * 60e3, toMs: t + (at ? 30 * 60e3 : 2 * 60e3) };
  });
  const [data, setData] = useState<Timeline>(EMPTY);
  const [tlState, setTlState] = useState<"ok" | "missing" | "error" | "loading">("loading");
  const [tlErr, setTlErr] = useState("");
  const [stream, setStream] = useState<"main" | "sub">("main");
  const [play, setPlay] = useState<{ originMs: number; endMs: number; url: string } | null>(null);
  /** What the player did on its own at the end of a recording: continued, skipped a gap, or stopped. */
  const [flow, setFlow] = useState<string | null>(null);
  const [playErr, setPlayErr] = useState<string | null>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const [speed, setSpeed] = useState(1);
  const [paused, setPaused] = useState(true);
  const [sel, setSel] = useState<{ startMs: number; endMs: number } | null>(null);
  const [locks, setLocks] = useState<{ startMs: number; endMs: number }[]>([]);
  const [retrievals, setRetrievals] = useState<TRetrieval[] | null>(null); // null = endpoint missing
  const [priority, setPriority] = useState("request");
  const [quality, setQuality] = useState<"main" | "sub-then-main">("main");
  const [tick, setTick] = useState(0);
  const video = useRef<HTMLVideoElement>(null);
  const markers = useMarkers(cam, view, tick);
  const frameSec = useFrameDuration(video, play?.url ?? null);

  // timeline for the visible window (debounced while zooming/panning), refreshed every 5 s
  useEffect(() => {
    if (!cam) return;
    const t = setTimeout(() => {
      loadTimeline(cam.id, Math.floor(view.fromMs), Math.ceil(view.toMs), stream).then(
        (d) => {
          if (!d) setTlState("missing");
          else {
            setTlState("ok");
            setData((old) => ({ ...d, retrievals: old.retrievals }));
          }
        },
        (e) => {
          setTlState("error");
          setTlErr(errorSentence(e));
        },
      );
    }, 120);
    return () => clearTimeout(t);
  }, [cam?.id, view, stream, tick]);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 5000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    if (!cam) return;
    getOptional<{ locks: { from: string; to: string; cameraId: string }[] }>(`/api/v1/evidence-locks?cameraId=${encodeURIComponent(cam.id)}`).then(
      (r) => setLocks((r?.locks ?? []).map((l) => ({ startMs: Date.parse(l.from), endMs: Date.parse(l.to) }))),
      () => setLocks([]),
    );
    if (ROLE !== "central") return;
    getOptional<{ retrievals: RawRetrieval[] }>(`/api/v1/retrievals?cameraId=${encodeURIComponent(cam.id)}`).then(
      (r) => {
        if (!r) return setRetrievals(null);
        const mine = r.retrievals
          .filter((x) => (x.cameraId ?? x.camera) === cam.id)
          .map((x) => ({ id: x.id, startMs: Date.parse(x.from), endMs: Date.parse(x.to), progress: x.progress ?? 0, state: x.state, etaSeconds: x.etaSeconds, priority: x.priority }));
        setRetrievals(mine);
        setData((d) => ({ ...d, retrievals: mine.filter((x) => x.state !== "done" && x.state !== "failed") }));
      },
      () => setRetrievals(null),
    );
  }, [cam?.id, tick]);

  // play head follows the video
  useEffect(() => {
    const v = video.current;
    if (!v || !play) return;
    const on = () => setCursor(play.originMs + v.currentTime * 1000);
    const st = () => setPaused(v.paused);
    // The end of a played window is not the end of the footage: continue with the next recording, saying what was skipped.
    const ended = () => {
      const n = nextPlay(dataRef.current, play.endMs);
      if (!n) return setFlow(`End of the recordings at ${fmtTime(play.endMs)}.`);
      setFlow(n.skipped ? `Skipped ${fmtDuration(n.skipped.ms)} with no recording (${fmtTime(play.endMs, false)} – ${fmtTime(n.atMs, false)}): ${n.skipped.why}` : null);
      void seekRef.current(n.atMs, true);
    };
    v.addEventListener("timeupdate", on);
    v.addEventListener("play", st);
    v.addEventListener("pause", st);
    v.addEventListener("ended", ended);
    return () => {
      v.removeEventListener("timeupdate", on);
      v.removeEventListener("play", st);
      v.removeEventListener("pause", st);
      v.removeEventListener("ended", ended);
    };
  }, [play]);
  useEffect(() => {
    if (video.current) video.current.playbackRate = speed;
  }, [speed, play]);
  const dataRef = useRef(data);
  dataRef.current = data;
  const seekRef = useRef<(t: number, cont?: boolean) => Promise<void>>(async () => undefined);
  // ?t=…&play=1 (the fleet map, search results): play from that moment once the timeline is in
  const autoPlay = useRef(p.params.get("play") === "1" && at ? Date.parse(at) : null);
  useEffect(() => {
    if (autoPlay.current === null || tlState !== "ok" || !data.ranges.length) return;
    const t = autoPlay.current;
    autoPlay.current = null;
    void seekRef.current(t);
  }, [data, tlState]);

  if (!cam) {
    return (
      <div class="pad">
        <h1>Playback</h1>
        {camId && <Notice kind="error">This camera ({cameraName(cameras, sites, camId)}) does not exist any more, or you may not see it.</Notice>}
        <p class="muted">Pick a camera in the tree, or here:</p>
        <ul class="pick">
          {vis.map((c) => (
            <li key={c.id}>
              <button onClick={() => navigate(`/playback?camera=${encodeURIComponent(c.id)}`)}>{c.name}</button>
            </li>
          ))}
          {!vis.length && <li class="muted">No cameras available.</li>}
        </ul>
      </div>
    );
  }

  /** Plays from t (or from the next recording after it); `cont`: continuing after the end of a window. */
  const seek = async (t: number, cont = false) => {
    const range = data.ranges.find((r) => r.startMs <= t && r.endMs > t) ?? data.ranges.find((r) => r.startMs > t);
    if (!range) return notify(`Nothing recorded at ${fmtTime(t)} or after it.`, "error");
    if (!cont) setFlow(range.startMs > t ? `Nothing recorded at ${fmtTime(t)}; playing from the next recording at ${fmtTime(range.startMs)}.` : null);
    const from = Math.max(t, range.startMs);
    const to = Math.min(from + 60 * 60e3, Math.max(range.endMs, from + 1000));
    const url = `/api/v1/cameras/${encodeURIComponent(cam.id)}/video?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&stream=${stream}`;
    setPlayErr(null);
    try {
      const h = await fetch(url, { method: "HEAD", credentials: "same-origin" });
      if (h.status === 404 && !h.headers.get("content-type")?.includes("problem")) throw new Error("This server cannot play recordings.");
      if (!h.ok) {
        const g = await fetch(url, { credentials: "same-origin", headers: { range: "bytes=0-0" } });
        const body = (await g.json().catch(() => ({}))) as { detail?: string };
        throw new Error(body.detail ?? "The recording could not be played; try again.");
      }
      const origin = Date.parse(h.headers.get("x-outpost-start") ?? "") || from;
      const end = Date.parse(h.headers.get("x-outpost-end") ?? "") || to;
      setPlay({ originMs: origin, endMs: end, url });
      setCursor(origin);
    } catch (e) {
      setPlayErr(errorSentence(e));
    }
  };
  seekRef.current = seek;
  /** One frame back or forward, by the stream's measured frame interval (not an assumed rate). */
  const step = (frames: number) => {
    const v = video.current;
    if (!v) return;
    v.pause();
    v.currentTime = Math.max(0, v.currentTime + frames * frameSec);
  };
  const selection = sel && sel.endMs - sel.startMs >= 1000 ? sel : null;
  const doExport = async () => {
    if (!selection) return;
    if (ROLE === "central") {
      try {
        const r = await exportAtCentral({ cameraId: cam.id, fromMs: selection.startMs, toMs: selection.endMs, stream });
        notify(r.kind === "downloaded" ? `Evidence package saved as ${r.file}.` : r.detail);
      } catch (e) {
        notify(errorSentence(e), "error");
      }
      return;
    }
    try {
      const r = await api<{ id: string }>("POST", "/api/v1/exports", { cameraId: cam.id, from: new Date(selection.startMs).toISOString(), to: new Date(selection.endMs).toISOString(), stream });
      notify(`Export ${r.id} started — see Exports.`);
      navigate(`/exports?highlight=${r.id}`);
    } catch (e) {
      notify(errorSentence(e), "error");
    }
  };
  const doLock = async () => {
    if (!selection) return;
    const reason = prompt("Reason for the evidence lock (case number, incident):", "");
    if (!reason) return;
    try {
      await api("POST", "/api/v1/evidence-locks", { cameraId: cam.id, from: new Date(selection.startMs).toISOString(), to: new Date(selection.endMs).toISOString(), reason });
      notify("Evidence lock created: this range is exempt from retention.");
      setTick((x) => x + 1);
    } catch (e) {
      notify(errorSentence(e), "error");
    }
  };
  const doRetrieve = async () => {
    if (!selection) return;
    try {
      await api("POST", "/api/v1/retrievals", { cameraId: cam.id, from: new Date(selection.startMs).toISOString(), to: new Date(selection.endMs).toISOString(), priority, quality });
      notify(quality === "sub-then-main" ? "Retrieval queued: the sub stream first (a quick look), then the main stream." : "Retrieval queued.");
      setTick((x) => x + 1);
    } catch (e) {
      notify(errorSentence(e), "error");
    }
  };
  const span = view.toMs - view.fromMs;
  return (
    <div class="playback">
      <div class="toolbar">
        <h1 class="inline">{cam.name}</h1>
        {ROLE === "central" && <span class="muted small">{siteName(sites, cam.siteId)}</span>}
        <span class="spacer" />
        <span class="label">Stream</span>
        {(["main", "sub"] as const).map((s) => (
          <button key={s} class={stream === s ? "seg on" : "seg"} aria-pressed={stream === s} onClick={() => setStream(s)}>
            {s}
          </button>
        ))}
        <span class="sep" />
        <span class="label">Zoom</span>
        {ZOOMS.map(([l, ms]) => (
          <button
            key={l}
            class={Math.abs(span - ms) < ms * 0.01 ? "seg on" : "seg"}
            onClick={() => {
              const n = Date.now();
              // keep "now" in sight when the view shows it; otherwise zoom around the play head or the middle
              if (cursor == null && view.fromMs <= n && view.toMs >= n) setView({ fromMs: n - ms * 0.9, toMs: n + ms * 0.1 });
              else {
                const c = cursor ?? (view.fromMs + view.toMs) / 2;
                setView({ fromMs: c - ms / 2, toMs: c + ms / 2 });
              }
            }}
          >
            {l}
          </button>
        ))}
        <button
          onClick={() => {
            const n = Date.now();
            setView({ fromMs: n - span * 0.9, toMs: n + span * 0.1 });
          }}
          title="Jump to now"
        >
          Now
        </button>
      </div>
      <div class="player">
        {play ? <video ref={video} src={play.url} autoPlay muted controls={false} data-testid="playback-video" data-frame-ms={Math.round(frameSec * 1000)} onClick={(e) => (e.currentTarget.paused ? e.currentTarget.play() : e.currentTarget.pause())} /> : <div class="player-empty">Click the timeline to play from that moment.</div>}
        {playErr && (
          <div class="tile-overlay error" role="alert">
            {playErr}
          </div>
        )}
        {play && <div class="osd">{cursor ? fmtTime(cursor) : ""}</div>}
        {flow && (
          <div class="notice notice-info playback-flow" role="status" data-testid="playback-flow">
            {flow}
          </div>
        )}
      </div>
      {ROLE === "central" && cam.siteId && <PositionPanel siteId={cam.siteId} atMs={cursor} />}
      <div class="transport" role="toolbar" aria-label="Playback controls">
        <button onClick={() => step(-1)} disabled={!play || !paused} title="Previous frame (paused)" aria-label="Previous frame">
          <IconPrev />
        </button>
        <button
          class="primary"
          disabled={!play}
          onClick={() => {
            const v = video.current;
            if (v) void (v.paused ? v.play() : v.pause());
          }}
          aria-label={paused ? "Play" : "Pause"}
        >
          {paused ? (
            <>
              <IconPlay /> Play
            </>
          ) : (
            <>
              <IconPause /> Pause
            </>
          )}
        </button>
        <button onClick={() => step(1)} disabled={!play || !paused} title="Next frame (paused)" aria-label="Next frame">
          <IconNext />
        </button>
        <span class="sep" />
        <span class="label">Speed</span>
        {SPEEDS.map((s) => (
          <button key={s} class={speed === s ? "seg on" : "seg"} aria-pressed={speed === s} onClick={() => setSpeed(s)}>
            {s}×
          </button>
        ))}
        <span class="sep" />
        <span class="cursor-time">{cursor ? fmtTime(cursor) : "—"}</span>
        <span class="spacer" />
        <span class="muted small">Shift+drag on the timeline to select a range</span>
      </div>
      {cam.revoked && <Notice kind="warn">This camera's site is revoked: it shows only what central holds, and that stays playable and exportable.</Notice>}
      {tlState === "missing" && <Notice kind="missing">This server keeps no recordings of this camera.</Notice>}
      {tlState === "error" && <Notice kind="error">{tlErr}</Notice>}
      <TimelineBar view={view} onView={(v) => setView(v.toMs - v.fromMs > MAX_SPAN || v.toMs - v.fromMs < MIN_SPAN ? view : v)} data={data} cursorMs={cursor} selection={sel} onSelect={setSel} onSeek={seek} locks={locks} central={ROLE === "central"} markers={markers} />
      {ROLE === "central" && <PreviewStrip cameraId={cam.id} view={view} onView={setView} cursorMs={cursor} selection={sel} />}
      <div class="selection-bar">
        {selection ? (
          <>
            <span>
              Selected <strong>{fmtTime(selection.startMs)}</strong> – <strong>{fmtTime(selection.endMs, false)}</strong> ({fmtDuration(selection.endMs - selection.startMs)})
            </span>
            {can(me, "export", { site: cam.siteId, camera: cam.id }) && <button onClick={doExport}>{ROLE === "central" ? "Export evidence package" : "Export MP4"}</button>}
            {/* A lock goes to the edge too: central refuses it for a revoked site, so it is not offered there. */}
            {!cam.revoked && can(me, "evidence-lock", { site: cam.siteId, camera: cam.id }) && <button onClick={doLock}>Evidence lock…</button>}
            {ROLE === "central" && !cam.revoked && can(me, "retrieve", { site: cam.siteId, camera: cam.id }) && (
              <>
                <span class="sep" />
                <RetrievePicker priority={priority} onPriority={setPriority} onRetrieve={doRetrieve} disabled={retrievals === null} title={retrievals === null ? "Retrievals are not available on this central yet" : "Copy this range from the edge to central"} label="Retrieve this range">
                  <label class="label">
                    Quality{" "}
                    <select value={quality} onChange={(e) => setQuality(e.currentTarget.value as "main" | "sub-then-main")} title="Sub then main: the small sub stream of the range first (playable soon), then the main stream">
                      <option value="main">main</option>
                      <option value="sub-then-main">sub, then main</option>
                    </select>
                  </label>
                </RetrievePicker>
              </>
            )}
            <button class="ghost" onClick={() => setSel(null)}>
              Clear
            </button>
          </>
        ) : (
          <span class="muted">No range selected.</span>
        )}
      </div>
      {ROLE === "central" && can(me, "retrieve", { site: cam.siteId, camera: cam.id }) && (
        <section class="panel">
          <h2>Retrievals</h2>
          {retrievals === null ? (
            <Notice kind="missing">This central cannot retrieve recordings from edges.</Notice>
          ) : retrievals.length ? (
            <table class="table">
              <thead>
                <tr>
                  <th>Range</th>
                  <th>Priority</th>
                  <th>State</th>
                  <th>Progress</th>
                  <th>ETA</th>
                </tr>
              </thead>
              <tbody>
                {retrievals.map((r) => (
                  <tr key={r.id}>
                    <td>
                      {fmtTime(r.startMs)} – {fmtTime(r.endMs, false)}
                    </td>
                    <td>{r.priority ?? "—"}</td>
                    <td>{retrievalWords(r)}</td>
                    <td>
                      <progress max={100} value={r.progress} /> {Math.round(r.progress)} %
                    </td>
                    <td>{r.etaSeconds != null ? fmtDuration(r.etaSeconds * 1000) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No retrievals for this camera.</p>
          )}
        </section>
      )}
    </div>
  );
}
