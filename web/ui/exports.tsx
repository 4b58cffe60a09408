/**
 * Exports: start an export of a window, watch progress, download. The edge makes an MP4; central
 * makes an evidence package (retrieving edge-only footage first) and shows its SHA-256.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { ROLE, api, getOptional } from "../api.ts";
import { visibleCameras } from "./tree.tsx";
import { Notice, fmtBytes, fmtTime, fromLocalInput, toLocalInput, useApp } from "./common.tsx";

interface ExportJob {
  id: string;
  cameraId: string;
  stream: string;
  from: string;
  to: string;
  state: string;
  progress: number;
  sizeBytes?: number;
  sha256?: string;
  detail?: string;
  error?: string;
  createdAt: string;
  download?: string;
}

export function ExportsView() {
  const { cameras, sites, me, notify } = useApp();
  const vis = useMemo(() => visibleCameras(cameras, sites, me), [cameras, sites, me]);
  const [jobs, setJobs] = useState<ExportJob[] | null | undefined>(undefined);
  const [camera, setCamera] = useState("");
  const [from, setFrom] = useState(() => toLocalInput(Date.now() - 5 * 60e3));
  const [to, setTo] = useState(() => toLocalInput(Date.now() - 60e3));
  const [err, setErr] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    getOptional<{ exports: ExportJob[] }>("/api/v1/exports").then((r) => setJobs(r ? r.exports : null), () => setJobs(null));
    const active = jobs?.some((j) => j.state !== "done" && j.state !== "failed");
    const t = setTimeout(() => setN((x) => x + 1), active ? 700 : 4000);
    return () => clearTimeout(t);
  }, [n]);
  const start = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    const f = fromLocalInput(from);
    const t = fromLocalInput(to);
    if (!camera) return setErr("Choose a camera.");
    if (!(t > f)) return setErr("The end of the window must be after its start.");
    try {
      // Central: an export job (answered at once, listed below) rather than a download held open while footage is retrieved.
      await api("POST", "/api/v1/exports", { cameraId: camera, from: new Date(f).toISOString(), to: new Date(t).toISOString() }, ROLE === "central" ? { headers: { prefer: "respond-async" } } : {});
      notify("Export started.");
      setN((x) => x + 1);
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  return (
    <div class="pad page">
      <h1>Exports</h1>
      <form class="form-row" onSubmit={start} aria-label="New export">
        <label>
          Camera
          <select value={camera} onChange={(e) => setCamera(e.currentTarget.value)} required>
            <option value="">choose…</option>
            {vis.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" step={1} value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To
          <input type="datetime-local" step={1} value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button class="primary" type="submit">
          {ROLE === "central" ? "Export evidence package" : "Export MP4"}
        </button>
      </form>
      {err && <Notice kind="error">{err}</Notice>}
      {jobs === null ? (
        <Notice kind="error">The list of exports could not be loaded; try again in a moment.</Notice>
      ) : (
        <table class="table" aria-label="Exports">
          <thead>
            <tr>
              <th>Camera</th>
              <th>Window</th>
              <th>Created</th>
              <th>Progress</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(jobs ?? []).map((j) => (
              <tr key={j.id} data-export={j.id} data-state={j.state}>
                <td>{vis.find((c) => c.id === j.cameraId)?.name ?? j.cameraId}</td>
                <td>
                  {fmtTime(j.from)} – {fmtTime(j.to, false)}
                </td>
                <td>{fmtTime(j.createdAt)}</td>
                <td>
                  {j.state === "failed" ? (
                    <span class="bad">failed: {j.error}</span>
                  ) : (
                    <>
                      <progress max={100} value={j.progress} aria-label={`export ${j.progress} %`} /> {j.progress} % {j.state !== "done" ? (j.detail ?? j.state) : ""}
                    </>
                  )}
                </td>
                <td>
                  {fmtBytes(j.sizeBytes)}
                  {j.sha256 && (
                    <div class="muted mono" style={{ wordBreak: "break-all" }} title="SHA-256 of the file: compare it with the copy you hand over">
                      SHA-256 {j.sha256}
                    </div>
                  )}
                </td>
                <td>
                  {j.download && (
                    <a class="button" href={j.download} download>
                      {ROLE === "central" ? "Download evidence package" : "Download MP4"}
                    </a>
                  )}
                </td>
              </tr>
            ))}
            {jobs && !jobs.length && (
              <tr>
                <td colSpan={6} class="muted">
                  No exports yet. Select a range on a timeline, or use the form above.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </div>
  );
}
