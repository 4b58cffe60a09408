/**
 * A site's link types as a form: per link type the edge reports (cellular, wifi, satellite, …)
 * a rate cap, a monthly budget and the transfer classes allowed on it. Saved into the site's
 * transfer policy (PUT /api/v1/sites/{id}/policy, validated by the same SitePolicy schema); the
 * rest of the policy is left as it is. "Advanced (JSON)" edits the raw `links` object.
 */
import "../panels.css";
import { useState } from "preact/hooks";
import { api, get } from "../../api.ts";
import { LoadView, Modal, useApp, useLoad } from "../common.tsx";
import { AdvancedForm, useAdvanced } from "./json-advanced.tsx";

const CLASSES = ["alarm", "request", "event", "scheduled", "backfill"];
type Profile = { rateBitsPerSecond?: number | null; monthlyBytes?: number | null; allow?: string[] };
interface Row {
  type: string;
  mbps: string;
  gb: string;
  allow: string[];
}
const GB = 1e9;

const toRows = (links: Record<string, Profile>): Row[] =>
  Object.entries(links).map(([type, p]) => ({ type, mbps: p.rateBitsPerSecond ? String(p.rateBitsPerSecond / 1e6) : "", gb: p.monthlyBytes ? String(p.monthlyBytes / GB) : "", allow: p.allow ?? [] }));

export function linksFromRows(rows: Row[]): { links: Record<string, Profile>; problems: string[] } {
  const problems: string[] = [];
  const links: Record<string, Profile> = {};
  rows.forEach((r, i) => {
    const n = `Link ${i + 1}${r.type ? ` (${r.type})` : ""}`;
    const type = r.type.trim();
    if (!/^[A-Za-z0-9._-]{1,40}$/.test(type)) problems.push(`${n}: the link type is the name the edge reports, 1 to 40 letters, digits, dots, dashes or underscores (e.g. cellular).`);
    else if (links[type]) problems.push(`${n}: the link type ${type} is listed twice.`);
    const mbps = r.mbps.trim() ? Number(r.mbps) : null;
    if (mbps !== null && !(mbps > 0)) problems.push(`${n}: the rate cap is a number of Mbit/s above 0, or empty for no cap.`);
    const gb = r.gb.trim() ? Number(r.gb) : null;
    if (gb !== null && !(gb > 0)) problems.push(`${n}: the monthly budget is a number of GB above 0, or empty for unlimited.`);
    links[type] = { ...(mbps ? { rateBitsPerSecond: Math.round(mbps * 1e6) } : {}), ...(gb ? { monthlyBytes: Math.round(gb * GB) } : {}), ...(r.allow.length ? { allow: r.allow } : {}) };
  });
  return { links, problems };
}

export function LinkTypesEditor(p: { siteId: string; siteName: string; onClose: () => void; onSaved: () => void }) {
  const [v] = useLoad(() => get<{ policy: Record<string, unknown> | null }>(`/api/v1/sites/${encodeURIComponent(p.siteId)}/policy`), [p.siteId]);
  return (
    <Modal title={`Link types of ${p.siteName}`} onClose={p.onClose}>
      <LoadView v={v} what="Policy" endpoint={`GET /api/v1/sites/${p.siteId}/policy`}>
        {(d) => <Editor {...p} policy={d.policy} />}
      </LoadView>
    </Modal>
  );
}

function Editor(p: { siteId: string; policy: Record<string, unknown> | null; onSaved: () => void }) {
  const { notify } = useApp();
  const [rows, setRows] = useState<Row[]>(() => toRows((p.policy?.links as Record<string, Profile> | undefined) ?? {}));
  const [problems, setProblems] = useState<string[]>([]);
  const adv = useAdvanced(
    () => linksFromRows(rows).links,
    (v) => {
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error('The JSON must be an object by link type: { "cellular": { "rateBitsPerSecond": 2000000, "monthlyBytes": 5000000000 } }.');
      setRows(toRows(v as Record<string, Profile>));
    },
  );
  const setR = (i: number, patch: Partial<Row>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const save = async (e: Event) => {
    e.preventDefault();
    let links: unknown;
    if (adv.mode === "json") {
      links = adv.jsonBody();
      if (links === null) return;
    } else {
      const r = linksFromRows(rows);
      if (r.problems.length) return setProblems(r.problems);
      links = r.links;
    }
    setProblems([]);
    // The rest of the policy stays; a site without one keeps the default (footage stays at the edge).
    const body = { ...(p.policy ?? { options: ["edge-only"] }), links };
    try {
      await api("PUT", `/api/v1/sites/${encodeURIComponent(p.siteId)}/policy`, body);
      notify("Link types saved.");
      p.onSaved();
    } catch (x) {
      setProblems([`The server refused the link types: ${(x as Error).message}`]);
    }
  };
  return (
    <AdvancedForm label="Link types" adv={adv} onSubmit={save} problems={problems} saveLabel="Save link types">
      <>
        {rows.map((r, i) => (
          <div class="grant-row" key={i} role="group" aria-label={`Link ${i + 1}`}>
            <div class="form-row">
              <label>
                Link type
                <input value={r.type} onInput={(e) => setR(i, { type: e.currentTarget.value })} placeholder="cellular" />
              </label>
              <label>
                Rate cap (Mbit/s)
                <input value={r.mbps} onInput={(e) => setR(i, { mbps: e.currentTarget.value })} placeholder="none" />
              </label>
              <label>
                Monthly budget (GB)
                <input value={r.gb} onInput={(e) => setR(i, { gb: e.currentTarget.value })} placeholder="unlimited" />
              </label>
              <span class="spacer" />
              <button type="button" class="danger" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
            <div class="checks" style={{ gridTemplateColumns: "repeat(5, auto)" }} title="none ticked = every class">
              {CLASSES.map((c) => (
                <label key={c} class="check">
                  <input type="checkbox" checked={r.allow.includes(c)} onChange={(e) => setR(i, { allow: e.currentTarget.checked ? [...r.allow, c] : r.allow.filter((x) => x !== c) })} /> {c}
                </label>
              ))}
            </div>
          </div>
        ))}
        <button type="button" onClick={() => setRows([...rows, { type: "", mbps: "", gb: "", allow: [] }])}>
          Add link type
        </button>
        <p class="muted small">Classes: tick the transfer classes allowed on the link; none ticked allows every class. A link type not listed has no limits.</p>
      </>
    </AdvancedForm>
  );
}
