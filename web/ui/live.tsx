/**
 * Live grid: 1/4/9/16 tiles, drag a camera in, main/sub, reconnect indicator, snapshot, saved
 * views shared across the user's clients; double-click (or the tile's button) maximises a tile,
 * Esc restores; full screen through the Fullscreen API. The grid is remembered per user and the
 * page opens on the last view (central's copy of a saved view wins: it may have changed elsewhere).
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { CLIENT_ID, ROLE, api, getOptional } from "../api.ts";
import { LivePlayer, type LiveInfo, type LiveState } from "../live-player.ts";
import { CAMERA_MIME, openBus, visibleCameras } from "./tree.tsx";
import { navigate, useApp } from "./common.tsx";
import { subscribeEvents } from "../shared-stream.ts";
import { LivePaused, isBudgetPause } from "./live-paused.tsx";
import { IconCamera, IconClose, IconFullscreen, IconMaximise, IconRestore, IconRewind } from "./icons.tsx";

type Tile = { camera: string; stream: "main" | "sub" } | null;
interface View {
  name: string;
  layout: number;
  tiles: Tile[];
  updatedAt?: string;
}
const LAYOUTS = [1, 4, 9, 16] as const;
const LS_GRID = "outpost.grid"; // + "." + user: each user of a shared browser gets their own last grid
const LS_VIEWS = "outpost.views"; // the edge has no views API: views stay in this browser

export const gridKey = (user: string | undefined) => `${LS_GRID}.${user ?? ""}`;

function loadGrid(user: string | undefined): View {
  // the unkeyed entry is what clients before per-user grids wrote
  for (const key of [gridKey(user), LS_GRID]) {
    try {
      const v = JSON.parse(localStorage.getItem(key) ?? "") as View;
      if (LAYOUTS.includes(v.layout as 1) && Array.isArray(v.tiles)) return v;
    } catch {
      // nothing stored under this key
    }
  }
  return { name: "", layout: 4, tiles: [] };
}

function TileView(p: { tile: Tile; index: number; name: string; focused: boolean; maximised: boolean; onFocus: () => void; onDrop: (cam: string) => void; onClear: () => void; onStream: (s: "main" | "sub") => void; onMaximise: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<{ s: LiveState; detail?: string }>({ s: "connecting" });
  const [over, setOver] = useState(false);
  const [info, setInfo] = useState<LiveInfo>({ ageMs: null, lastFrameAt: null });
  const { notify, cameras } = useApp();
  // The edge's own word on the camera (control-plane health), e.g. "stopped — connection refused".
  const edgeStream = cameras?.find((c) => c.id === p.tile?.camera)?.streams.find((x) => x.kind === p.tile?.stream);
  const edgeReason = edgeStream && !["recording", "ok", "live"].includes(edgeStream.status) ? `${edgeStream.status}${edgeStream.reason ? `: ${edgeStream.reason}` : ""}` : undefined;
  const noSignal = `no signal${info.lastFrameAt ? ` since ${new Date(info.lastFrameAt).toLocaleTimeString([], { hour12: false })}` : ""} — ${edgeReason ?? info.reason ?? state.detail ?? "no frames arriving"}`;
  useEffect(() => {
    if (!p.tile || !video.current) return;
    setState({ s: "connecting" });
    const pl = new LivePlayer({
      video: video.current,
      cameraId: p.tile.camera,
      stream: p.tile.stream,
      onState: (s, detail) => setState((o) => (o.s === s && o.detail === detail ? o : { s, detail })),
      onInfo: (i) => setInfo((o) => (o.lastFrameAt === i.lastFrameAt && o.reason === i.reason && Math.round((o.ageMs ?? 0) / 1000) === Math.round((i.ageMs ?? 0) / 1000) ? o : i)),
    });
    pl.start();
    return () => pl.stop();
  }, [p.tile?.camera, p.tile?.stream]);
  const snapshot = () => {
    const v = video.current;
    if (!v || !v.videoWidth) return notify("No picture yet to take a snapshot of.", "error");
    const c = document.createElement("canvas");
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext("2d")!.drawImage(v, 0, 0);
    const a = document.createElement("a");
    a.href = c.toDataURL("image/png");
    a.download = `${p.tile!.camera}_${new Date().toISOString().replace(/[:.]/g, "-")}.png`;
    a.click();
    notify(`Snapshot of ${p.name} saved.`);
  };
  return (
    <div
      class={`tile${p.focused ? " focused" : ""}${over ? " over" : ""}${p.maximised ? " maximised" : ""}`}
      tabIndex={0}
      data-tile={p.index}
      data-state={p.tile ? state.s : "empty"}
      aria-label={p.tile ? `Tile ${p.index + 1}: ${p.name}, ${state.s}` : `Tile ${p.index + 1}: empty`}
      onFocus={p.onFocus}
      onClick={p.onFocus}
      onDblClick={(e) => {
        // a double-click on the tile's own buttons is two clicks on them, not a maximise
        if (!(e.target as HTMLElement).closest("button")) p.onMaximise();
      }}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const id = e.dataTransfer?.getData(CAMERA_MIME) || e.dataTransfer?.getData("text/plain");
        if (id) p.onDrop(id);
      }}
    >
      {p.tile ? (
        <>
          <video ref={video} muted playsInline autoPlay data-camera={p.tile.camera} />
          <div class="tile-bar">
            <span class={`live-dot live-${state.s}`} aria-hidden="true" />
            <span class="tile-name">{p.name}</span>
            <span class="tile-state">
              {state.s === "playing" ? (info.ageMs !== null && info.ageMs > 2000 ? `LIVE · ${(info.ageMs / 1000).toFixed(0)} s old` : "LIVE") : state.s === "nosignal" ? "no signal" : state.s === "reconnecting" ? "reconnecting…" : state.s === "error" ? "error" : "connecting…"}
            </span>
            <span class="spacer" />
            <button class={p.tile.stream === "main" ? "chip on" : "chip"} onClick={() => p.onStream("main")} title="Main stream (full resolution)">
              main
            </button>
            <button class={p.tile.stream === "sub" ? "chip on" : "chip"} onClick={() => p.onStream("sub")} title="Sub stream (low bandwidth)">
              sub
            </button>
            <button class="icon" onClick={snapshot} title="Snapshot (PNG)" aria-label="Snapshot">
              <IconCamera />
            </button>
            <button class="icon" onClick={() => navigate(`/playback?camera=${encodeURIComponent(p.tile!.camera)}`)} title="Playback" aria-label="Playback">
              <IconRewind />
            </button>
            <button class="icon" onClick={p.onMaximise} title={p.maximised ? "Back to the grid (Esc, double-click)" : "Maximise (double-click)"} aria-label={p.maximised ? "Back to the grid" : "Maximise tile"}>
              {p.maximised ? <IconRestore /> : <IconMaximise />}
            </button>
            <button class="icon" onClick={p.onClear} title="Remove from tile (Delete)" aria-label="Remove camera from tile">
              <IconClose />
            </button>
          </div>
          {state.s !== "playing" && (
            <div class={`tile-overlay ${state.s}`} role="status">
              {isBudgetPause(info.reason) ? <LivePaused camera={p.tile.camera} reason={info.reason} /> : state.s === "nosignal" || (state.s === "reconnecting" && info.lastFrameAt) ? noSignal : state.s === "reconnecting" ? `Reconnecting… ${state.detail ?? ""}` : state.s === "error" ? state.detail : "Connecting…"}
            </div>
          )}
        </>
      ) : (
        <div class="tile-empty">Drop a camera here</div>
      )}
    </div>
  );
}

export function LiveView() {
  const { cameras, sites, me, notify } = useApp();
  const [grid, setGrid] = useState<View>(() => loadGrid(me?.user));
  const [focus, setFocus] = useState(0);
  const [maxed, setMaxed] = useState<number | null>(null);
  const [full, setFull] = useState(false);
  const gridEl = useRef<HTMLDivElement>(null);
  const [views, setViews] = useState<View[] | null>(null);
  const [viewsShared, setViewsShared] = useState(ROLE === "central");
  const gridRef = useRef(grid);
  const synced = useRef(false);
  gridRef.current = grid;
  const names = useMemo(() => new Map(visibleCameras(cameras, sites, me).map((c) => [c.id, c.name])), [cameras, sites, me]);

  useEffect(() => localStorage.setItem(gridKey(me?.user), JSON.stringify(grid)), [grid, me?.user]);
  useEffect(() => {
    if (maxed !== null && maxed >= grid.layout) setMaxed(null);
  }, [grid.layout, maxed]);
  // Esc leaves the maximised tile (in full screen the browser's own Esc leaves full screen first)
  useEffect(() => {
    const k = (e: KeyboardEvent) => e.key === "Escape" && setMaxed(null);
    const fs = () => setFull(document.fullscreenElement === gridEl.current && !!gridEl.current);
    addEventListener("keydown", k);
    document.addEventListener("fullscreenchange", fs);
    return () => {
      removeEventListener("keydown", k);
      document.removeEventListener("fullscreenchange", fs);
    };
  }, []);
  const toggleFullscreen = async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await gridEl.current?.requestFullscreen();
    } catch (e) {
      notify(`Full screen is not available here: ${(e as Error).message}`, "error");
    }
  };

  // Saved views: central stores them per user and pushes changes from the user's other clients.
  useEffect(() => {
    if (ROLE !== "central") {
      setViewsShared(false);
      setViews(JSON.parse(localStorage.getItem(LS_VIEWS) ?? "[]") as View[]);
      return;
    }
    const load = () =>
      getOptional<{ views: View[] }>("/api/v1/views").then((r) => {
        if (!r) {
          setViewsShared(false);
          setViews(JSON.parse(localStorage.getItem(LS_VIEWS) ?? "[]") as View[]);
        } else {
          setViews(r.views);
          // open on the last view as central has it now (it may have been changed in another client);
          // only at start: later reloads (stream reconnects) must not undo unsaved edits in this tab
          if (synced.current) return;
          synced.current = true;
          const last = r.views.find((v) => v.name === gridRef.current.name);
          if (!last && gridRef.current.name) setGrid((g) => ({ ...g, name: "" })); // deleted elsewhere: keep the tiles, unsaved
          else if (last && JSON.stringify([last.layout, last.tiles]) !== JSON.stringify([gridRef.current.layout, gridRef.current.tiles])) setGrid({ name: last.name, layout: last.layout, tiles: last.tiles });
        }
      }, () => setViews([]));
    void load();
    // One stream per browser, shared by all tabs (web/shared-stream.ts: the 6-connection limit);
    // "ready" = it (re)connected, possibly in another tab after a hand-over: reload what it missed.
    return subscribeEvents("/api/v1/views/stream", me?.user ?? "", ["view", "ready"], (type, data) => {
      if (type === "ready") return void load();
      const m = JSON.parse(data) as { kind: "saved" | "deleted"; view: View; origin: string | null };
      setViews((vs) => {
        const rest = (vs ?? []).filter((v) => v.name !== m.view.name);
        return m.kind === "saved" ? [...rest, m.view].sort((a, b) => a.name.localeCompare(b.name)) : rest;
      });
      if (m.origin !== CLIENT_ID && m.kind === "saved" && gridRef.current.name === m.view.name) {
        setGrid({ ...m.view });
        notify(`View "${m.view.name}" was changed in another window; updated here.`);
      }
    });
  }, [me?.user]);

  const place = (i: number, tile: Tile) =>
    setGrid((g) => {
      const tiles = [...g.tiles];
      while (tiles.length < g.layout) tiles.push(null);
      tiles[i] = tile;
      return { ...g, tiles: tiles.slice(0, g.layout) };
    });
  useEffect(() => {
    const on = (e: Event) => {
      const d = (e as CustomEvent<{ camera: string; stream: "main" | "sub" }>).detail;
      const g = gridRef.current;
      const free = Array.from({ length: g.layout }, (_, i) => i).find((i) => !g.tiles[i]);
      place(free ?? focus, { camera: d.camera, stream: d.stream });
    };
    openBus.addEventListener("open", on);
    return () => openBus.removeEventListener("open", on);
  }, [focus]);

  const save = async () => {
    const name = (prompt("Save this view as:", grid.name || "My view") ?? "").trim();
    if (!name) return;
    const body = { layout: grid.layout, tiles: Array.from({ length: grid.layout }, (_, i) => grid.tiles[i] ?? null) };
    try {
      if (viewsShared) await api("PUT", `/api/v1/views/${encodeURIComponent(name)}`, body);
      else {
        const vs = [...(views ?? []).filter((v) => v.name !== name), { name, ...body }];
        localStorage.setItem(LS_VIEWS, JSON.stringify(vs));
        setViews(vs);
      }
      setGrid((g) => ({ ...g, name }));
      notify(`View "${name}" saved${viewsShared ? " — your other windows show it too" : " in this browser"}.`);
    } catch (e) {
      notify((e as Error).message, "error");
    }
  };
  const remove = async () => {
    if (!grid.name || !confirm(`Delete the view "${grid.name}"?`)) return;
    try {
      if (viewsShared) await api("DELETE", `/api/v1/views/${encodeURIComponent(grid.name)}`);
      else {
        const vs = (views ?? []).filter((v) => v.name !== grid.name);
        localStorage.setItem(LS_VIEWS, JSON.stringify(vs));
        setViews(vs);
      }
      setGrid((g) => ({ ...g, name: "" }));
    } catch (e) {
      notify((e as Error).message, "error");
    }
  };

  const cols = Math.sqrt(grid.layout);
  const onGridKey = (e: KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
    if (e.key in moves) {
      const n = focus + moves[e.key]!;
      if (n >= 0 && n < grid.layout) {
        (document.querySelector(`[data-tile="${n}"]`) as HTMLElement | null)?.focus();
        e.preventDefault();
      }
    } else if (e.key === "Delete" || e.key === "Backspace") place(focus, null);
    else if (e.key === "Enter" && grid.tiles[focus]) navigate(`/playback?camera=${encodeURIComponent(grid.tiles[focus]!.camera)}`);
  };

  return (
    <div class="live">
      <div class="toolbar" role="toolbar" aria-label="Live view">
        <span class="label">Layout</span>
        {LAYOUTS.map((l) => (
          <button key={l} class={grid.layout === l ? "seg on" : "seg"} aria-pressed={grid.layout === l} onClick={() => setGrid((g) => ({ ...g, layout: l, tiles: g.tiles.slice(0, l) }))} title={`${l} tile${l > 1 ? "s" : ""}`}>
            {l === 1 ? "1×1" : `${Math.sqrt(l)}×${Math.sqrt(l)}`}
          </button>
        ))}
        <span class="sep" />
        <label class="label" for="view-select">
          View
        </label>
        <select
          id="view-select"
          value={grid.name}
          onChange={(e) => {
            const v = views?.find((x) => x.name === e.currentTarget.value);
            if (v) setGrid({ name: v.name, layout: v.layout, tiles: v.tiles });
          }}
        >
          <option value="">(unsaved)</option>
          {(views ?? []).map((v) => (
            <option key={v.name} value={v.name}>
              {v.name}
            </option>
          ))}
        </select>
        <button onClick={save}>Save view…</button>
        <button onClick={remove} disabled={!grid.name}>
          Delete
        </button>
        <span class="spacer" />
        <button onClick={() => setGrid((g) => ({ ...g, tiles: [] }))}>Clear all</button>
        <button onClick={toggleFullscreen} aria-pressed={full} title="Full screen (Esc leaves)" aria-label="Full screen">
          <IconFullscreen /> Full screen
        </button>
      </div>
      <div
        ref={gridEl}
        class={`grid g${grid.layout}${maxed !== null ? " has-max" : ""}${full ? " full" : ""}`}
        role="grid"
        aria-label={`${grid.layout}-tile live grid`}
        data-maximised={maxed ?? ""}
        onKeyDown={(e) => onGridKey(e as unknown as KeyboardEvent)}
      >
        {Array.from({ length: grid.layout }, (_, i) => {
          const t = grid.tiles[i] ?? null;
          return (
            <TileView
              key={i}
              index={i}
              tile={t}
              name={t ? names.get(t.camera) ?? t.camera : ""}
              focused={focus === i}
              maximised={maxed === i}
              onMaximise={() => setMaxed((m) => (m === i ? null : i))}
              onFocus={() => setFocus(i)}
              onDrop={(cam) => place(i, { camera: cam, stream: t?.stream ?? "main" })}
              onClear={() => place(i, null)}
              onStream={(s) => t && place(i, { ...t, stream: s })}
            />
          );
        })}
      </div>
    </div>
  );
}
