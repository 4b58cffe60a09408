/** Admin → Audit log: who did what, filtered by user, site, camera, action and time, newest first; checks the hash chain on demand. */
import "./panels.css";
import { useState } from "preact/hooks";
import { get, q } from "../api.ts";
import { Badge, LoadView, Notice, fromLocalInput, fmtTime, useApp, useLoad } from "./common.tsx";

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
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [f, setF] = useState<Filters>(EMPTY);
  const [before, setBefore] = useState<number[]>([]);
  const [verify, setVerify] = useState<{ ok: boolean; checked: number; problems: { seq: number; problem: string }[] } | string | null>(null);
  const iso = (s: string) => (s ? new Date(fromLocalInput(s)).toISOString() : undefined);
  const [v] = useLoad(
    () => get<{ records: Rec[]; next: number | null }>(`/api/v1/audit?${q({ user: f.user || undefined, site: f.site || undefined, camera: f.camera || undefined, action: f.action || undefined, from: iso(f.from), to: iso(f.to), before: before.at(-1), limit: 50 })}`),
    [JSON.stringify(f), before.at(-1)],
  );
  const apply = (e: Event) => {
    e.preventDefault();
    setBefore([]);
    setF(draft);
  };
  const check = async () => {
    setVerify(null);
    try {
      setVerify(await get("/api/v1/audit/verify"));
    } catch (x) {
      setVerify((x as Error).message);
    }
  };
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
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
      <form class="filters" onSubmit={apply} aria-label="Audit filters">
        <label>
          User
          <input value={draft.user} onInput={set("user")} />
        </label>
        <label>
          Site
          <select aria-label="Site" value={draft.site} onChange={set("site")}>
            <option value="">any</option>
            {sites.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
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
        <label>
          From
          <input type="datetime-local" step={1} value={draft.from} onInput={set("from")} />
        </label>
        <label>
          To
          <input type="datetime-local" step={1} value={draft.to} onInput={set("to")} />
        </label>
        <button class="primary" type="submit">
          Filter
        </button>
      </form>
      <LoadView v={v} what="Audit log" endpoint="GET /api/v1/audit">
        {(d) => (
          <>
            <table class="table" aria-label="Audit records">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Time</th>
                  <th>User</th>
                  <th>Action</th>
                  <th>Subject</th>
                  <th>Site / camera</th>
                  <th>Outcome</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
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
                {!d.records.length && (
                  <tr>
                    <td colSpan={8} class="muted">
                      No audit records match.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
            <div class="form-row">
              <button disabled={!before.length} onClick={() => setBefore(before.slice(0, -1))}>
                Newer
              </button>
              <button disabled={d.next === null} onClick={() => d.next !== null && setBefore([...before, d.next])}>
                Older
              </button>
            </div>
          </>
        )}
      </LoadView>
    </section>
  );
}
