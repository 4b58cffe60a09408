/**
 * A rule as a form: when (event types, sites, cameras, data, lateness, time profile) and then
 * (alarm, retrieve, live main stream, evidence lock, webhook, MQTT). Problems are listed in
 * words before anything is sent; the server validates the same body with its schema
 * (central/rules/schema.ts) and its sentence is shown too. "Advanced (JSON)" edits the raw body.
 */
import "../panels.css";
import { useState } from "preact/hooks";
import { api, get } from "../../api.ts";
import { PriorityOptions } from "../retrieve-picker.tsx";
import { Modal, useApp, useLoad } from "../common.tsx";
import { csv, AdvancedForm, useAdvanced } from "./json-advanced.tsx";

type Kind = "alarm" | "retrieve" | "live-main" | "evidence-lock" | "webhook" | "mqtt";
const KINDS: [Kind, string][] = [
  ["alarm", "Raise an alarm"],
  ["retrieve", "Retrieve footage to central"],
  ["live-main", "Switch live to the main stream"],
  ["evidence-lock", "Lock footage as evidence"],
  ["webhook", "Call a webhook"],
  ["mqtt", "Publish to MQTT"],
];

export interface RuleBody {
  name: string;
  enabled?: boolean;
  match: { types: string[]; sites?: string[]; cameras?: string[]; data?: Record<string, string | number | boolean>; late?: boolean };
  timeProfile?: string;
  actions: Record<string, unknown>[];
}

interface ActionDraft {
  kind: Kind;
  priority: string;
  title: string;
  instructions: string;
  pre: string;
  post: string;
  retrievePriority: string;
  seconds: string;
  reason: string;
  url: string;
  topic: string;
  qos: string;
  retain: boolean;
}
interface Draft {
  id: string;
  name: string;
  enabled: boolean;
  types: string;
  sites: string[];
  cameras: string[];
  data: string;
  late: "" | "true" | "false";
  timeProfile: string;
  actions: ActionDraft[];
}

const blankAction = (kind: Kind = "alarm"): ActionDraft => ({ kind, priority: "3", title: "", instructions: "", pre: "30", post: "30", retrievePriority: "event", seconds: "60", reason: "", url: "", topic: "", qos: "0", retain: false });

function fromBody(id: string, r: RuleBody): Draft {
  const str = (v: unknown, d: string) => (v === undefined || v === null ? d : String(v));
  return {
    id,
    name: r.name ?? "",
    enabled: r.enabled !== false,
    types: (r.match?.types ?? []).join(", "),
    sites: r.match?.sites ?? [],
    cameras: r.match?.cameras ?? [],
    data: Object.entries(r.match?.data ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(", "),
    late: r.match?.late === undefined ? "" : r.match.late ? "true" : "false",
    timeProfile: r.timeProfile ?? "",
    actions: (r.actions ?? []).map((a) => {
      const kind = (KINDS.some(([k]) => k === a.kind) ? a.kind : "alarm") as Kind;
      const b = blankAction(kind);
      return {
        ...b,
        priority: kind === "alarm" ? str(a.priority, "3") : b.priority,
        retrievePriority: kind === "retrieve" ? str(a.priority, "event") : b.retrievePriority,
        title: str(a.title, ""),
        instructions: str(a.instructions, ""),
        pre: str(a.preSeconds, kind === "evidence-lock" ? "60" : "30"),
        post: str(a.postSeconds, kind === "evidence-lock" ? "60" : "30"),
        seconds: str(a.seconds, "60"),
        reason: str(a.reason, ""),
        url: str(a.url, ""),
        topic: str(a.topic, ""),
        qos: str(a.qos, "0"),
        retain: a.retain === true,
      };
    }),
  };
}

const intIn = (s: string, lo: number, hi: number) => /^\d+$/.test(s.trim()) && Number(s) >= lo && Number(s) <= hi;

/** The body and every problem with the draft, in words. */
export function toBody(d: Draft): { body: RuleBody; problems: string[] } {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(d.id)) problems.push("The rule id is 1 to 100 letters, digits, dots, dashes or underscores (e.g. panic-alarm).");
  if (!d.name.trim()) problems.push("Give the rule a name.");
  const types = csv(d.types);
  if (!types.length) problems.push("Name at least one event type the rule reacts to (e.g. panic, or camera.* for every camera event, or * for all).");
  const data: Record<string, string | number | boolean> = {};
  for (const pair of csv(d.data)) {
    const m = /^([^=]+)=(.*)$/.exec(pair);
    if (!m) {
      problems.push(`The data condition “${pair}” is not field=value.`);
      continue;
    }
    const v = m[2]!.trim();
    data[m[1]!.trim()] = v === "true" ? true : v === "false" ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  if (!d.actions.length) problems.push("Add at least one action: what should happen when the rule matches.");
  const actions = d.actions.map((a, i) => {
    const n = `Action ${i + 1} (${KINDS.find(([k]) => k === a.kind)?.[1]})`;
    switch (a.kind) {
      case "alarm":
        if (!intIn(a.priority, 1, 5)) problems.push(`${n}: the priority is a whole number from 1 (most urgent) to 5.`);
        if (a.title.length > 200) problems.push(`${n}: the title is at most 200 characters.`);
        return { kind: "alarm", priority: Number(a.priority), ...(a.title.trim() ? { title: a.title.trim() } : {}), instructions: a.instructions };
      case "retrieve":
      case "evidence-lock":
        if (!intIn(a.pre, 0, 3600) || !intIn(a.post, 0, 3600)) problems.push(`${n}: seconds before and after the event are whole numbers from 0 to 3600.`);
        return a.kind === "retrieve"
          ? { kind: "retrieve", preSeconds: Number(a.pre), postSeconds: Number(a.post), priority: a.retrievePriority }
          : { kind: "evidence-lock", preSeconds: Number(a.pre), postSeconds: Number(a.post), ...(a.reason.trim() ? { reason: a.reason.trim() } : {}) };
      case "live-main":
        if (!intIn(a.seconds, 1, 86_400)) problems.push(`${n}: the duration is a whole number of seconds from 1 to 86400.`);
        return { kind: "live-main", seconds: Number(a.seconds) };
      case "webhook":
        if (!/^https?:\/\/\S+$/.test(a.url.trim())) problems.push(`${n}: the webhook address must start with http:// or https://.`);
        return { kind: "webhook", url: a.url.trim() };
      case "mqtt":
        if (!a.topic.trim()) problems.push(`${n}: name the MQTT topic to publish to.`);
        else if (/[+#]/.test(a.topic)) problems.push(`${n}: a topic to publish to cannot contain the wildcards + or #.`);
        else if (a.topic.startsWith("outpost/")) problems.push(`${n}: topics under outpost/ are reserved for the federation.`);
        return { kind: "mqtt", topic: a.topic.trim(), qos: Number(a.qos), retain: a.retain };
    }
  });
  const body: RuleBody = {
    name: d.name.trim(),
    enabled: d.enabled,
    match: { types, ...(d.sites.length ? { sites: d.sites } : {}), ...(d.cameras.length ? { cameras: d.cameras } : {}), ...(Object.keys(data).length ? { data } : {}), ...(d.late ? { late: d.late === "true" } : {}) },
    ...(d.timeProfile ? { timeProfile: d.timeProfile } : {}),
    actions,
  };
  return { body, problems };
}

export function RuleEditor(p: { id: string | null; rule: RuleBody | null; onClose: () => void; onSaved: () => void }) {
  const { sites, cameras, notify } = useApp();
  const isNew = p.id === null;
  const [d, setD] = useState<Draft>(() => fromBody(p.id ?? "", p.rule ?? { name: "", match: { types: [] }, actions: [blankAction() as never] }));
  const [problems, setProblems] = useState<string[]>([]);
  const [profiles] = useLoad(() => get<{ timeProfiles: { name: string }[] }>("/api/v1/time-profiles"), []);
  const adv = useAdvanced(
    () => toBody(d).body,
    (v) => {
      if (!v || typeof v !== "object") throw new Error("The JSON must be an object with name, match and actions.");
      setD(fromBody(d.id, v as RuleBody));
    },
  );
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD({ ...d, [k]: v });
  const setAction = (i: number, patch: Partial<ActionDraft>) => set("actions", d.actions.map((a, j) => (j === i ? { ...a, ...patch } : a)));
  const save = async (e: Event) => {
    e.preventDefault();
    let body: unknown;
    if (adv.mode === "json") {
      body = adv.jsonBody();
      if (body === null) return;
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(d.id)) return setProblems(["The rule id is 1 to 100 letters, digits, dots, dashes or underscores (e.g. panic-alarm)."]);
    } else {
      const r = toBody(d);
      if (r.problems.length) return setProblems(r.problems);
      body = r.body;
    }
    setProblems([]);
    try {
      await api("PUT", `/api/v1/rules/${encodeURIComponent(d.id)}`, body);
      notify("Rule saved.");
      p.onSaved();
    } catch (x) {
      setProblems([`The server refused the rule: ${(x as Error).message}`]);
    }
  };
  const camList = (cameras ?? []).filter((c) => !d.sites.length || d.sites.includes(c.siteId ?? ""));
  return (
    <Modal title={isNew ? "New rule" : `Rule ${p.id}`} onClose={p.onClose}>
      <AdvancedForm label="Rule" adv={adv} onSubmit={save} problems={problems} saveLabel="Save rule" head={
          <label>
            Rule id
            <input value={d.id} disabled={!isNew} onInput={(e) => set("id", e.currentTarget.value)} placeholder="panic-alarm" />
          </label>
        }>
        <>
          <label>
            Name
            <input value={d.name} onInput={(e) => set("name", e.currentTarget.value)} placeholder="Panic button" />
          </label>
          <label class="check">
            <input type="checkbox" checked={d.enabled} onChange={(e) => set("enabled", e.currentTarget.checked)} /> Enabled
          </label>
          <fieldset>
            <legend>When</legend>
            <div class="stack">
              <label>
                Event types (comma-separated; camera.* for a family, * for any)
                <input value={d.types} onInput={(e) => set("types", e.currentTarget.value)} placeholder="panic, door.open" />
              </label>
              <label>
                At sites (none selected = every site)
                <select multiple size={Math.min(5, Math.max(2, sites.length))} aria-label="At sites" onChange={(e) => set("sites", [...e.currentTarget.selectedOptions].map((o) => o.value))}>
                  {sites.map((s) => (
                    <option key={s.id} value={s.id} selected={d.sites.includes(s.id)}>
                      {s.name}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                From cameras (none selected = any camera)
                <select multiple size={Math.min(6, Math.max(2, camList.length))} aria-label="From cameras" onChange={(e) => set("cameras", [...e.currentTarget.selectedOptions].map((o) => o.value))}>
                  {camList.map((c) => (
                    <option key={c.id} value={c.id} selected={d.cameras.includes(c.id)}>
                      {c.name} ({c.id})
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Only when the event's data has (field=value, comma-separated)
                <input value={d.data} onInput={(e) => set("data", e.currentTarget.value)} placeholder="input=2, state=on" />
              </label>
              <div class="form-row">
                <label>
                  Arrival
                  <select aria-label="Arrival" value={d.late} onChange={(e) => set("late", e.currentTarget.value as Draft["late"])}>
                    <option value="">on time or late</option>
                    <option value="false">only on time</option>
                    <option value="true">only late (after a link outage)</option>
                  </select>
                </label>
                <label>
                  During
                  <select value={d.timeProfile} onChange={(e) => set("timeProfile", e.currentTarget.value)} aria-label="Time profile">
                    <option value="">always</option>
                    {profiles.state === "ok" &&
                      profiles.data.timeProfiles.map((t) => (
                        <option key={t.name} value={t.name}>
                          {t.name}
                        </option>
                      ))}
                  </select>
                </label>
              </div>
            </div>
          </fieldset>
          <fieldset>
            <legend>Then</legend>
            <div class="stack">
              {d.actions.map((a, i) => (
                <div class="action-row" key={i} aria-label={`Action ${i + 1}`} role="group">
                  <div class="form-row">
                    <label>
                      Action
                      <select aria-label="Action" value={a.kind} onChange={(e) => setAction(i, { kind: e.currentTarget.value as Kind })}>
                        {KINDS.map(([k, l]) => (
                          <option key={k} value={k}>
                            {l}
                          </option>
                        ))}
                      </select>
                    </label>
                    <span class="spacer" />
                    <button type="button" class="danger" onClick={() => set("actions", d.actions.filter((_, j) => j !== i))}>
                      Remove
                    </button>
                  </div>
                  {a.kind === "alarm" && (
                    <>
                      <div class="form-row">
                        <label>
                          Priority (1 = most urgent)
                          <input value={a.priority} onInput={(e) => setAction(i, { priority: e.currentTarget.value })} />
                        </label>
                        <label>
                          Alarm title
                          <input value={a.title} onInput={(e) => setAction(i, { title: e.currentTarget.value })} />
                        </label>
                      </div>
                      <label>
                        Instructions for the operator
                        <textarea rows={2} value={a.instructions} onInput={(e) => setAction(i, { instructions: e.currentTarget.value })} />
                      </label>
                    </>
                  )}
                  {(a.kind === "retrieve" || a.kind === "evidence-lock") && (
                    <div class="form-row">
                      <label>
                        Seconds before
                        <input value={a.pre} onInput={(e) => setAction(i, { pre: e.currentTarget.value })} />
                      </label>
                      <label>
                        Seconds after
                        <input value={a.post} onInput={(e) => setAction(i, { post: e.currentTarget.value })} />
                      </label>
                      {a.kind === "retrieve" ? (
                        <label>
                          Transfer priority
                          <select aria-label="Transfer priority" value={a.retrievePriority} onChange={(e) => setAction(i, { retrievePriority: e.currentTarget.value })}>
                            <PriorityOptions />
                          </select>
                        </label>
                      ) : (
                        <label>
                          Reason
                          <input value={a.reason} onInput={(e) => setAction(i, { reason: e.currentTarget.value })} />
                        </label>
                      )}
                    </div>
                  )}
                  {a.kind === "live-main" && (
                    <label>
                      For how many seconds
                      <input value={a.seconds} onInput={(e) => setAction(i, { seconds: e.currentTarget.value })} />
                    </label>
                  )}
                  {a.kind === "webhook" && (
                    <label>
                      Webhook address
                      <input value={a.url} onInput={(e) => setAction(i, { url: e.currentTarget.value })} placeholder="https://example.org/hook" />
                    </label>
                  )}
                  {a.kind === "mqtt" && (
                    <div class="form-row">
                      <label>
                        Topic
                        <input value={a.topic} onInput={(e) => setAction(i, { topic: e.currentTarget.value })} placeholder="site/alerts" />
                      </label>
                      <label>
                        QoS
                        <select aria-label="QoS" value={a.qos} onChange={(e) => setAction(i, { qos: e.currentTarget.value })}>
                          <option value="0">0</option>
                          <option value="1">1</option>
                        </select>
                      </label>
                      <label class="check">
                        <input type="checkbox" checked={a.retain} onChange={(e) => setAction(i, { retain: e.currentTarget.checked })} /> retain
                      </label>
                    </div>
                  )}
                </div>
              ))}
              <button type="button" onClick={() => set("actions", [...d.actions, blankAction()])}>
                Add action
              </button>
            </div>
          </fieldset>
        </>
      </AdvancedForm>
    </Modal>
  );
}
