/**
 * Schedules for rules (time profiles) as a form: a name, a time zone and weekly windows (days,
 * from, to; a window whose end is before its start runs past midnight). Problems are listed in
 * words; the server validates the same body (central/rules/schema.ts TimeProfile).
 * "Advanced (JSON)" edits the raw body.
 */
import "../panels.css";
import { useState } from "preact/hooks";
import { api } from "../../api.ts";
import { Modal, useApp } from "../common.tsx";
import { AdvancedForm, useAdvanced } from "./json-advanced.tsx";

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const DAY_NAMES: Record<string, string> = { sun: "Sun", mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat" };
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

export interface TimeProfileBody {
  timezone?: string;
  windows: { days: string[]; from: string; to: string }[];
}

export function profileProblems(name: string, p: TimeProfileBody): string[] {
  const out: string[] = [];
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) out.push("The schedule name is 1 to 100 letters, digits, dots, dashes or underscores (e.g. night-shift).");
  const tz = p.timezone || "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    out.push(`“${tz}” is not a time zone this browser knows; use a name like Europe/Oslo or UTC.`);
  }
  if (!p.windows.length) out.push("Add at least one window: when the schedule is active.");
  p.windows.forEach((w, i) => {
    if (!w.days.length) out.push(`Window ${i + 1}: tick at least one day.`);
    if (!HHMM.test(w.from) || !HHMM.test(w.to)) out.push(`Window ${i + 1}: times are HH:MM between 00:00 and 24:00 (e.g. 22:00).`);
    else if (w.from === w.to) out.push(`Window ${i + 1}: the start and the end are the same time.`);
  });
  return out;
}

export function TimeProfileEditor(p: { name: string | null; profile: TimeProfileBody | null; onClose: () => void; onSaved: () => void }) {
  const { notify } = useApp();
  const isNew = p.name === null;
  const [name, setName] = useState(p.name ?? "");
  const [tz, setTz] = useState(p.profile?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC");
  const [windows, setWindows] = useState(p.profile?.windows ?? [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "22:00", to: "06:00" }]);
  const [problems, setProblems] = useState<string[]>([]);
  const body = (): TimeProfileBody => ({ timezone: tz.trim() || "UTC", windows });
  const adv = useAdvanced(body, (v) => {
    const o = v as TimeProfileBody;
    if (!o || typeof o !== "object" || !Array.isArray(o.windows)) throw new Error('The JSON must be an object with "windows": [{ "days": ["mon"], "from": "22:00", "to": "06:00" }].');
    setTz(o.timezone ?? "UTC");
    setWindows(o.windows.map((w) => ({ days: Array.isArray(w.days) ? w.days : [], from: String(w.from ?? ""), to: String(w.to ?? "") })));
  });
  const setW = (i: number, patch: Partial<TimeProfileBody["windows"][number]>) => setWindows(windows.map((w, j) => (j === i ? { ...w, ...patch } : w)));
  const save = async (e: Event) => {
    e.preventDefault();
    let b: unknown;
    if (adv.mode === "json") {
      b = adv.jsonBody();
      if (b === null) return;
    } else {
      const probs = profileProblems(name, body());
      if (probs.length) return setProblems(probs);
      b = body();
    }
    setProblems([]);
    try {
      await api("PUT", `/api/v1/time-profiles/${encodeURIComponent(name)}`, b);
      notify("Schedule saved.");
      p.onSaved();
    } catch (x) {
      setProblems([`The server refused the schedule: ${(x as Error).message}`]);
    }
  };
  return (
    <Modal title={isNew ? "New schedule" : `Schedule ${p.name}`} onClose={p.onClose}>
      <AdvancedForm label="Schedule" adv={adv} onSubmit={save} problems={problems} saveLabel="Save schedule" head={
          <label>
            Schedule name
            <input value={name} disabled={!isNew} onInput={(e) => setName(e.currentTarget.value)} placeholder="night-shift" />
          </label>
        }>
        <>
          <label>
            Time zone
            <input value={tz} onInput={(e) => setTz(e.currentTarget.value)} placeholder="Europe/Oslo" />
          </label>
          {windows.map((w, i) => (
            <div class="grant-row" key={i} role="group" aria-label={`Window ${i + 1}`}>
              <div class="form-row">
                <label>
                  From
                  <input value={w.from} onInput={(e) => setW(i, { from: e.currentTarget.value })} placeholder="22:00" />
                </label>
                <label>
                  To
                  <input value={w.to} onInput={(e) => setW(i, { to: e.currentTarget.value })} placeholder="06:00" />
                </label>
                <span class="spacer" />
                <button type="button" class="danger" onClick={() => setWindows(windows.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </div>
              <div class="checks" style={{ gridTemplateColumns: "repeat(7, auto)" }}>
                {DAYS.map((d) => (
                  <label key={d} class="check">
                    <input type="checkbox" checked={w.days.includes(d)} onChange={(e) => setW(i, { days: e.currentTarget.checked ? [...w.days, d] : w.days.filter((x) => x !== d) })} /> {DAY_NAMES[d]}
                  </label>
                ))}
              </div>
            </div>
          ))}
          <button type="button" onClick={() => setWindows([...windows, { days: [...DAYS], from: "00:00", to: "24:00" }])}>
            Add window
          </button>
          <p class="muted small">A window whose end is before its start runs past midnight into the next day.</p>
        </>
      </AdvancedForm>
    </Modal>
  );
}
