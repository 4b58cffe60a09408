/** Admin → Firmware: uploaded releases and staged roll-out campaigns (start, follow each site, halt, resume). */
import "./panels.css";
import { useState } from "preact/hooks";
import { api, get, getOptional } from "../api.ts";
import { Badge, LoadView, Notice, fmtTime, useApp, useLoad } from "./common.tsx";

interface Summary {
  id: string;
  version: string;
  state: "running" | "halted" | "completed";
  haltReason?: string;
  stage: number;
  stages: number[];
  stageSize: number;
  maxFailureRate: number;
  sites: number;
  counts: Record<string, number>;
  createdAt: string;
  completedAt?: string;
}
interface View extends Omit<Summary, "sites"> {
  sites: { site: string; inStage: boolean; state: string; progress: number; reason?: string; running?: string; updatedAt: string }[];
}

export function FirmwareAdmin() {
  const { sites, notify } = useApp();
  const [rel] = useLoad(() => getOptional<{ releases: { version: string; targetsVersion: number }[] }>("/api/v1/firmware/releases"), []);
  const [camps, reload] = useLoad(() => getOptional<{ campaigns: Summary[] }>("/api/v1/firmware/campaigns"), []);
  const [open, setOpen] = useState<string | null>(null);
  const [version, setVersion] = useState("");
  const [stages, setStages] = useState("1, 10, 100");
  const [maxFail, setMaxFail] = useState("20");
  const [err, setErr] = useState<string | null>(null);
  const start = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    if (!version) return setErr("Choose the release to roll out.");
    const st = stages.split(",").map((s) => Number(s.trim()));
    if (!st.length || st.some((n) => !(n > 0 && n <= 100))) return setErr("Stages are percentages of the fleet between 1 and 100, separated by commas (e.g. 1, 10, 100).");
    const mf = Number(maxFail);
    if (!(mf >= 0 && mf <= 100)) return setErr("The failure threshold is a percentage between 0 and 100.");
    try {
      await api("POST", "/api/v1/firmware/campaigns", { version, stages: st, maxFailureRate: mf / 100 });
      notify(`Campaign for ${version} started.`);
      reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const act = async (id: string, what: "halt" | "resume") => {
    try {
      await api("POST", `/api/v1/firmware/campaigns/${encodeURIComponent(id)}/${what}`);
      reload();
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  const siteName = (id: string) => sites.find((s) => s.id === id)?.name ?? id;
  return (
    <section>
      <h1>Firmware campaigns</h1>
      <LoadView v={camps} what="Firmware campaigns" endpoint="GET /api/v1/firmware/campaigns">
        {(d) => (
          <table class="table" aria-label="Firmware campaigns">
            <thead>
              <tr>
                <th>Campaign</th>
                <th>Version</th>
                <th>State</th>
                <th>Stage</th>
                <th>Sites</th>
                <th>Started</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {d.campaigns.map((c) => (
                <tr key={c.id}>
                  <td>
                    <button class="ghost" onClick={() => setOpen(open === c.id ? null : c.id)}>
                      {c.id}
                    </button>
                  </td>
                  <td>{c.version}</td>
                  <td>
                    <Badge tone={c.state === "running" ? "info" : c.state === "halted" ? "bad" : "ok"} title={c.haltReason}>
                      {c.state}
                    </Badge>
                    {c.haltReason && <span class="muted small"> {c.haltReason}</span>}
                  </td>
                  <td>
                    {c.stage} of {c.stages.length} ({c.stages.join(" → ")} %)
                  </td>
                  <td>
                    {c.sites} · {Object.entries(c.counts).map(([k, n]) => `${n} ${k}`).join(", ")}
                  </td>
                  <td>{fmtTime(c.createdAt)}</td>
                  <td>
                    {c.state === "running" && <button onClick={() => act(c.id, "halt")}>Halt</button>}
                    {c.state === "halted" && <button onClick={() => act(c.id, "resume")}>Resume</button>}
                  </td>
                </tr>
              ))}
              {!d.campaigns.length && (
                <tr>
                  <td colSpan={7} class="muted">
                    No campaigns yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        )}
      </LoadView>
      {open && <CampaignSites id={open} siteName={siteName} />}
      <h2>Start a campaign</h2>
      <LoadView v={rel} what="Firmware releases" endpoint="GET /api/v1/firmware/releases">
        {(d) =>
          d.releases.length ? (
            <form class="form-row" onSubmit={start} aria-label="New campaign">
              <label>
                Release
                <select aria-label="Release" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
                  <option value="">choose…</option>
                  {d.releases.map((r) => (
                    <option key={r.version}>{r.version}</option>
                  ))}
                </select>
              </label>
              <label>
                Stages (% of the fleet)
                <input value={stages} onInput={(e) => setStages(e.currentTarget.value)} />
              </label>
              <label>
                Halt when failures exceed (%)
                <input value={maxFail} onInput={(e) => setMaxFail(e.currentTarget.value)} />
              </label>
              <button class="primary" type="submit">
                Start
              </button>
            </form>
          ) : (
            <p class="muted">No release uploaded yet (outpost firmware release, then POST /api/v1/firmware/releases).</p>
          )
        }
      </LoadView>
      {err && <Notice kind="error">{err}</Notice>}
    </section>
  );
}

function CampaignSites(p: { id: string; siteName: (id: string) => string }) {
  const [v] = useLoad(() => get<View>(`/api/v1/firmware/campaigns/${encodeURIComponent(p.id)}`), [p.id]);
  return (
    <LoadView v={v} what="Campaign" endpoint={`GET /api/v1/firmware/campaigns/${p.id}`}>
      {(c) => (
        <table class="table" aria-label={`Campaign ${c.id} sites`}>
          <thead>
            <tr>
              <th>Site</th>
              <th>In stage</th>
              <th>State</th>
              <th>Progress</th>
              <th>Running</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {c.sites.map((s) => (
              <tr key={s.site}>
                <td>{p.siteName(s.site)}</td>
                <td>{s.inStage ? "yes" : "not yet"}</td>
                <td>
                  {s.state}
                  {s.reason && <span class="muted small"> {s.reason}</span>}
                </td>
                <td>{s.progress} %</td>
                <td>{s.running ?? "—"}</td>
                <td>{fmtTime(s.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </LoadView>
  );
}
