/**
 * A role as a form: grants, each a scope (everything, a site, a camera or a camera group), the
 * rights it gives there and, for retrieve, the highest transfer priority. Problems are listed in
 * words; the server validates the same body (central/rights Grant). "Advanced (JSON)" edits the raw grants.
 */
import "../panels.css";
import { useState } from "preact/hooks";
import { api } from "../../api.ts";
import { PriorityOptions } from "../retrieve-picker.tsx";
import { Modal, useApp } from "../common.tsx";
import { AdvancedForm, useAdvanced } from "./json-advanced.tsx";

const RIGHTS: [string, string][] = [
  ["view-live", "view live"],
  ["playback", "play back"],
  ["export", "export"],
  ["retrieve", "retrieve footage"],
  ["evidence-lock", "lock evidence"],
  ["ack-alarms", "handle alarms"],
  ["admin-sites", "administer sites"],
  ["admin-policies", "administer policies"],
  ["admin-users", "administer users"],
];

export interface GrantBody {
  rights: string[];
  scope: string;
  maxPriority?: string;
}
type ScopeKind = "*" | "site" | "camera" | "group";
interface GrantDraft {
  kind: ScopeKind;
  target: string;
  rights: string[];
  maxPriority: string;
}

const toDraft = (g: GrantBody): GrantDraft => {
  const m = /^(site|camera|group):(.+)$/.exec(g.scope ?? "");
  return { kind: m ? (m[1] as ScopeKind) : "*", target: m?.[2] ?? "", rights: Array.isArray(g.rights) ? g.rights : [], maxPriority: g.maxPriority ?? "" };
};

export function grantsFromDraft(name: string, gs: GrantDraft[]): { grants: GrantBody[]; problems: string[] } {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) problems.push("The role name is 1 to 100 letters, digits, dots, dashes or underscores (e.g. depot-operator).");
  if (!gs.length) problems.push("Add at least one grant: a role without grants lets its users do nothing.");
  const grants = gs.map((g, i) => {
    if (g.kind !== "*" && !g.target.trim()) problems.push(`Grant ${i + 1}: choose the ${g.kind === "group" ? "camera group" : g.kind} it applies to.`);
    if (!g.rights.length) problems.push(`Grant ${i + 1}: tick at least one right.`);
    if (g.maxPriority && !g.rights.includes("retrieve")) problems.push(`Grant ${i + 1}: a highest retrieval priority only makes sense with the “retrieve footage” right.`);
    return { rights: g.rights, scope: g.kind === "*" ? "*" : `${g.kind}:${g.target.trim()}`, ...(g.maxPriority ? { maxPriority: g.maxPriority } : {}) };
  });
  return { grants, problems };
}

export function RoleEditor(p: { name: string | null; grants: GrantBody[]; onClose: () => void; onSaved: () => void }) {
  const { sites, cameras, notify } = useApp();
  const isNew = p.name === null;
  const [name, setName] = useState(p.name ?? "");
  const [gs, setGs] = useState<GrantDraft[]>(() => (p.grants.length ? p.grants : [{ rights: ["view-live", "playback"], scope: "*" }]).map(toDraft));
  const [problems, setProblems] = useState<string[]>([]);
  const adv = useAdvanced(
    () => grantsFromDraft(name || "x", gs).grants,
    (v) => {
      if (!Array.isArray(v)) throw new Error("The JSON must be a list of grants: [{ \"rights\": [...], \"scope\": \"*\" }].");
      setGs((v as GrantBody[]).map(toDraft));
    },
  );
  const setG = (i: number, patch: Partial<GrantDraft>) => setGs(gs.map((g, j) => (j === i ? { ...g, ...patch } : g)));
  const save = async (e: Event) => {
    e.preventDefault();
    let grants: unknown;
    if (adv.mode === "json") {
      grants = adv.jsonBody();
      if (grants === null) return;
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) return setProblems(["The role name is 1 to 100 letters, digits, dots, dashes or underscores (e.g. depot-operator)."]);
    } else {
      const r = grantsFromDraft(name, gs);
      if (r.problems.length) return setProblems(r.problems);
      grants = r.grants;
    }
    setProblems([]);
    try {
      await api("PUT", `/api/v1/roles/${encodeURIComponent(name)}`, { grants });
      notify("Role saved.");
      p.onSaved();
    } catch (x) {
      setProblems([`The server refused the role: ${(x as Error).message}`]);
    }
  };
  return (
    <Modal title={isNew ? "New role" : `Role ${p.name}`} onClose={p.onClose}>
      <AdvancedForm label="Role" adv={adv} onSubmit={save} problems={problems} saveLabel="Save role" head={
          <label>
            Role name
            <input value={name} disabled={!isNew} onInput={(e) => setName(e.currentTarget.value)} placeholder="depot-operator" />
          </label>
        }>
        <>
          {gs.map((g, i) => (
            <div class="grant-row" key={i} role="group" aria-label={`Grant ${i + 1}`}>
              <div class="form-row">
                <label>
                  Applies to
                  <select aria-label="Applies to" value={g.kind} onChange={(e) => setG(i, { kind: e.currentTarget.value as ScopeKind, target: "" })}>
                    <option value="*">everything</option>
                    <option value="site">one site</option>
                    <option value="camera">one camera</option>
                    <option value="group">a camera group</option>
                  </select>
                </label>
                {g.kind === "site" && (
                  <label>
                    Site
                    <select aria-label="Site" value={g.target} onChange={(e) => setG(i, { target: e.currentTarget.value })}>
                      <option value="">choose…</option>
                      {sites.map((s) => (
                        <option key={s.id} value={s.id}>
                          {s.name}
                        </option>
                      ))}
                    </select>
                  </label>
                )}
                {g.kind === "camera" && (
                  <label>
                    Camera
                    <select aria-label="Camera" value={g.target} onChange={(e) => setG(i, { target: e.currentTarget.value })}>
                      <option value="">choose…</option>
                      {(cameras ?? []).map((c) => (
                        <option key={c.id} value={c.id}>
                          {c.name} ({c.id})
                        </option>
                      ))}
                    </select>
                  </label>
                )}
                {g.kind === "group" && (
                  <label>
                    Group name
                    <input value={g.target} onInput={(e) => setG(i, { target: e.currentTarget.value })} />
                  </label>
                )}
                <span class="spacer" />
                <button type="button" class="danger" onClick={() => setGs(gs.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </div>
              <div class="checks">
                {RIGHTS.map(([r, l]) => (
                  <label key={r} class="check" title={r}>
                    <input type="checkbox" checked={g.rights.includes(r)} onChange={(e) => setG(i, { rights: e.currentTarget.checked ? [...g.rights, r] : g.rights.filter((x) => x !== r) })} /> {l}
                  </label>
                ))}
              </div>
              {g.rights.includes("retrieve") && (
                <label>
                  Highest retrieval priority
                  <select aria-label="Highest retrieval priority" value={g.maxPriority} onChange={(e) => setG(i, { maxPriority: e.currentTarget.value })}>
                    <option value="">request (default)</option>
                    <PriorityOptions />
                  </select>
                </label>
              )}
            </div>
          ))}
          <button type="button" onClick={() => setGs([...gs, { kind: "*", target: "", rights: [], maxPriority: "" }])}>
            Add grant
          </button>
        </>
      </AdvancedForm>
    </Modal>
  );
}
