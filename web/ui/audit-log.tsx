/** Admin → Audit log: who did what, filtered by user, site, camera, action and time, newest first; checks the hash chain on demand. */
import "./panels.css";
import { useState } from "preact/hooks";
import { get, q } from "../api.ts";
import { Badge, LoadView, Notice, fmtTime, useApp, useLoad } from "./common.tsx";
import { FilterBar, ListTable, Pager, SiteSelect, TimeRangeFilter, isoFromLocal as iso, useFilters } from "./paged-table.tsx";

const ACTIONS = ["login", "login-failed", "access-denied", "logout", "view-live", "playback", "export", "retrieval", "evidence-lock", "alarm", "config"];

interface Rec {
  seq: number;
  at: string;
  user: string;
  action: string;
  subject: string | null;
  siteId: string | null;
  cameraId: string | null;
  from: string | null;
  to: string | null;
  outcome: string;
  detail: Record<string, unknown>;
}

type Filters = { user: string; site: string; camera: string; action: string; from: string; to: string };
const EMPTY: Filters = { user: "", site: "", camera: "", action: "", from: "", to: "" };

export function AuditLogAdmin() {
  const { sites } = useApp();
  const [before, setBefore] = useState<number[]>([]);
  const { draft, applied: f, set, apply } = useFilters<Filters>(EMPTY, () => setBefore([]));
  const [verify, setVerify] = useState<{ ok: boolean; checked: number; problems: { seq: number; problem: string }[] } | string | null>(null);
  const [v] = useLoad(
    () => get<{ records: Rec[]; next: number | null }>(`/api/v1/audit?${q({ user: f.user || undefined, site: f.site || undefined, camera: f.camera || undefined, action: f.action || undefined, from: iso(f.from), to: iso(f.to), before: before.at(-1), limit: 50 })}`),
    [JSON.stringify(f), before.at(-1)],
  );
  const check = async () => {
    setVerify(null);
    try {
      setVerify(await get("/api/v1/audit/verify"));
    } catch (x) {
      setVerify((x as Error).message);
    }
  };
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Audit log</h1>
        <span class="spacer" />
        <button onClick={check}>Verify hash chain</button>
      </div>
      {verify &&
        (typeof verify === "string" ? (
          <Notice kind="error">{verify}</Notice>
        ) : verify.ok ? (
          <Notice>The audit log is intact: {verify.checked} records checked, the hash chain is unbroken.</Notice>
        ) : (
          <Notice kind="error">The audit log was altered: {verify.problems.slice(0, 5).map((p) => `record ${p.seq}: ${p.problem}`).join("; ")}</Notice>
        ))}
      <FilterBar label="Audit filters" onSubmit={apply}>
        <label>
          User
          <input value={draft.user} onInput={set("user")} />
        </label>
        <SiteSelect label="Site" sites={sites} value={draft.site} onChange={set("site")} />
        <label>
          Camera
          <input value={draft.camera} onInput={set("camera")} placeholder="site.camera" />
        </label>
        <label>
          Action
          <select aria-label="Action" value={draft.action} onChange={set("action")}>
            <option value="">any</option>
            {ACTIONS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <TimeRangeFilter from={draft.from} to={draft.to} set={set} />
      </FilterBar>
      <LoadView v={v} what="Audit log" endpoint="GET /api/v1/audit">
        {(d) => (
          <>
            <ListTable label="Audit records" columns={["#", "Time", "User", "Action", "Subject", "Site / camera", "Outcome", "Detail"]} count={d.records.length} empty="No audit records match.">
              {d.records.map((r) => (
                <tr key={r.seq} data-action={r.action}>
                  <td class="muted">{r.seq}</td>
                  <td>{fmtTime(r.at)}</td>
                  <td>{r.user}</td>
                  <td>{r.action}</td>
                  <td>{r.subject ?? ""}</td>
                  <td>{r.cameraId ?? r.siteId ?? ""}</td>
                  <td>{r.outcome === "ok" ? <Badge tone="ok">ok</Badge> : <Badge tone="bad">{r.outcome}</Badge>}</td>
                  <td class="small mono">{Object.keys(r.detail).length ? JSON.stringify(r.detail).slice(0, 160) : ""}</td>
                </tr>
              ))}
            </ListTable>
            <Pager newer={before.length ? () => setBefore(before.slice(0, -1)) : null} older={d.next !== null ? () => setBefore([...before, d.next!]) : null} />
          </>
        )}
      </LoadView>
    </section>
  );
}
