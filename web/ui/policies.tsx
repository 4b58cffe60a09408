/**
 * Admin → Policies: a site's (or one camera's) interconnect policy as it is set — loaded from
 * GET /api/v1/sites/{id}/policy, never defaults dressed up as the site's policy — and what the
 * edge reports as applied, with versions. Saving keeps the fields this form does not show
 * (links, time zone, stream, camera overrides) and then follows the edge until it applies it.
 */
import { useEffect, useState } from "preact/hooks";
import { api, getOptional } from "../api.ts";
import { Badge, Notice, fmtTime, useApp } from "./common.tsx";
import { errorSentence } from "./words.ts";

const OPTIONS = ["none", "edge-only", "on-request", "scheduled", "on-event", "after-link-down", "central-only", "both"] as const;
/** What the engine does for a site without a policy (federation/transfer/policy.ts effectivePolicy). */
const DEFAULT_OPTIONS = ["edge-only"];

type Sched = { from: string; to: string } | { windows: { from: string; to: string }[] };
interface PolicyFields {
  options?: string[];
  schedule?: Sched;
  event?: { preSeconds: number; postSeconds: number };
  budget?: { monthlyBytes?: number | null; rateBitsPerSecond?: number | null };
  cameras?: Record<string, PolicyFields>;
  [k: string]: unknown;
}
interface PolicyView {
  site: string;
  version: number | null;
  applied: { version: number; state: string; reason: string | null; at: string } | null;
  policy: PolicyFields | null;
}

/** Client-side checks, worded like the server's: the server validates again. */
export function validatePolicy(p: { options: string[]; schedule: string; preSeconds: number; postSeconds: number; monthlyGb: string; capMbps: string }): string[] {
  const errs: string[] = [];
  if (!p.options.length) errs.push("Choose at least one recording option.");
  for (const x of ["none", "central-only", "both"]) if (p.options.includes(x) && p.options.length > 1) errs.push(`"${x}" cannot be combined with other options.`);
  if (p.options.includes("scheduled") && !/^([01]\d|2[0-3]):[0-5]\d[–-]([01]\d|2[0-3]):[0-5]\d$/.test(p.schedule.trim())) errs.push('The schedule must be a time window like "01:00-05:00".');
  if (p.options.includes("on-event") && !(p.preSeconds >= 0 && p.preSeconds <= 3600 && p.postSeconds >= 0 && p.postSeconds <= 3600)) errs.push("Pre- and post-event windows must be 0–3600 seconds.");
  if (p.monthlyGb !== "" && !(Number(p.monthlyGb) > 0)) errs.push("The monthly budget must be a positive number of GB (or empty for unlimited).");
  if (p.capMbps !== "" && !(Number(p.capMbps) > 0)) errs.push("The rate cap must be a positive number of Mbit/s (or empty for none).");
  return errs;
}

const schedText = (s: Sched | undefined) => (!s ? "01:00-05:00" : "windows" in s ? (s.windows[0] ? `${s.windows[0].from}-${s.windows[0].to}` : "01:00-05:00") : `${s.from}-${s.to}`);
const gb = (b: number | null | undefined) => (b ? String(Math.round((b / 1e9) * 1000) / 1000) : "");
const mbps = (b: number | null | undefined) => (b ? String(Math.round((b / 1e6) * 1000) / 1000) : "");

/** The applied state in words, against the version that is set. */
function AppliedState(p: { v: PolicyView }) {
  const { version, applied } = p.v;
  // The policy travels in the site's desired config: `version` is that config's version (it may exist without a policy).
  if (p.v.policy === null)
    return (
      <p data-testid="policy-state">
        No policy is set for this site: the edge keeps its recordings (<strong>edge-only</strong>), central pulls only what is asked for, with no budget.
        {applied ? ` The edge reports configuration version ${applied.version} ${applied.state === "applied" ? "applied" : applied.state} at ${fmtTime(applied.at)}.` : ""}
      </p>
    );
  if (version === null) return null;
  const tone = applied?.version === version && applied.state === "applied" ? "ok" : applied && applied.state !== "applied" ? "bad" : "warn";
  return (
    <p data-testid="policy-state">
      Set: <strong>version {version}</strong>.{" "}
      {applied ? (
        <>
          The edge reports <Badge tone={tone}>{applied.state === "applied" ? `version ${applied.version} applied` : `version ${applied.version} ${applied.state}`}</Badge> at {fmtTime(applied.at)}
          {applied.reason ? ` — ${applied.reason}` : ""}
          {applied.version !== version ? "; it has not applied the newest version yet (it does when it is connected)." : "."}
        </>
      ) : (
        "The edge has not reported applying any version yet."
      )}
    </p>
  );
}

export function PoliciesAdmin() {
  const { sites, cameras, notify } = useApp();
  const [target, setTarget] = useState<string>("");
  const [view, setView] = useState<PolicyView | null>(null);
  const [options, setOptions] = useState<string[]>([]);
  const [schedule, setSchedule] = useState("01:00-05:00");
  const [pre, setPre] = useState(30);
  const [post, setPost] = useState(30);
  const [monthlyGb, setMonthlyGb] = useState("");
  const [capMbps, setCapMbps] = useState("");
  const [errs, setErrs] = useState<string[]>([]);
  const [n, setN] = useState(0);
  const [kind, id] = (target ? target.split(":", 2) : ["", ""]) as ["site" | "camera" | "", string];
  const siteId = kind === "site" ? id : kind === "camera" ? (cameras ?? []).find((c) => c.id === id)?.siteId ?? "" : "";
  const channel = kind === "camera" ? id.slice(siteId.length + 1) : "";

  // Load what is set whenever the target changes; refresh the applied state while the page is open.
  useEffect(() => {
    if (!siteId) return setView(null);
    let gone = false;
    getOptional<PolicyView>(`/api/v1/sites/${encodeURIComponent(siteId)}/policy`).then(
      (v) => !gone && setView(v),
      (e) => !gone && setErrs([errorSentence(e)]),
    );
    const t = setTimeout(() => setN((x) => x + 1), 3000);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [siteId, n]);
  // Fill the form from the stored policy once per target (not on every refresh: that would undo edits).
  const [filledFor, setFilledFor] = useState("");
  useEffect(() => {
    if (!view || filledFor === target) return;
    const site = view.policy;
    const f: PolicyFields = kind === "camera" ? (site?.cameras?.[channel] ?? {}) : (site ?? {});
    setOptions(f.options ?? (kind === "camera" ? (site?.options ?? DEFAULT_OPTIONS) : DEFAULT_OPTIONS));
    setSchedule(schedText(f.schedule));
    setPre(f.event?.preSeconds ?? 30);
    setPost(f.event?.postSeconds ?? 30);
    setMonthlyGb(gb(site?.budget?.monthlyBytes));
    setCapMbps(mbps(site?.budget?.rateBitsPerSecond));
    setErrs([]);
    setFilledFor(target);
  }, [view, target]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!target) return setErrs(["Choose a site or camera."]);
    const v = validatePolicy({ options, schedule, preSeconds: pre, postSeconds: post, monthlyGb, capMbps });
    setErrs(v);
    if (v.length || !view) return;
    const [from, to] = schedule.split(/[–-]/);
    const fields = {
      options,
      ...(options.includes("scheduled") ? { schedule: { from, to } } : {}),
      ...(options.includes("on-event") ? { event: { preSeconds: pre, postSeconds: post } } : {}),
    };
    // Keep what this form does not show (links, time zone, stream, other fields); replace what it does.
    const { schedule: _s, event: _e, budget: _b, options: _o, cameras: _c, ...keep } = (kind === "camera" ? view.policy?.cameras?.[channel] : view.policy) ?? {};
    const budget = monthlyGb === "" && capMbps === "" ? {} : { budget: { monthlyBytes: monthlyGb === "" ? null : Math.round(Number(monthlyGb) * 1e9), rateBitsPerSecond: capMbps === "" ? null : Math.round(Number(capMbps) * 1e6) } };
    // Budgets and link caps are per site (the link is the site's); a camera override carries none.
    const body = kind === "site" ? { ...keep, ...fields, ...budget } : { ...keep, ...fields };
    try {
      const r = await api<{ version: number }>("PUT", `/api/v1/${kind === "site" ? "sites" : "cameras"}/${encodeURIComponent(id)}/policy`, body);
      notify(`Policy saved as version ${r.version}; the page shows when the edge has applied it.`);
      setN((x) => x + 1);
    } catch (x) {
      setErrs([errorSentence(x)]);
    }
  };
  const toggle = (o: string) => setOptions((l) => (l.includes(o) ? l.filter((x) => x !== o) : [...l, o]));
  const ready = !!view && filledFor === target;
  return (
    <section>
      <h1>Interconnect policies</h1>
      <form class="stack narrow" onSubmit={save} aria-label="Policy">
        <label>
          Applies to
          <select value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
            <option value="">choose…</option>
            {sites.map((s) => (
              <optgroup key={s.id} label={s.name}>
                <option value={`site:${s.id}`}>{s.name} (whole site)</option>
                {(cameras ?? [])
                  .filter((c) => c.siteId === s.id)
                  .map((c) => (
                    <option key={c.id} value={`camera:${c.id}`}>
                      {c.name} (camera override)
                    </option>
                  ))}
              </optgroup>
            ))}
          </select>
        </label>
        {view && <AppliedState v={view} />}
        {kind === "camera" && view && !view.policy?.cameras?.[channel] && <Notice>This camera has no override: it follows the site's policy, shown below.</Notice>}
        {target && !ready && <p class="muted">Loading the policy that is set…</p>}
        {ready && (
          <>
            <fieldset>
              <legend>Recording options (combine as needed)</legend>
              <div class="checks">
                {OPTIONS.map((o) => (
                  <label key={o} class="check">
                    <input type="checkbox" checked={options.includes(o)} onChange={() => toggle(o)} /> {o}
                  </label>
                ))}
              </div>
            </fieldset>
            {options.includes("scheduled") && (
              <label>
                Schedule window
                <input value={schedule} onInput={(e) => setSchedule(e.currentTarget.value)} placeholder="01:00-05:00" />
              </label>
            )}
            {options.includes("on-event") && (
              <div class="form-row">
                <label>
                  Pre-event (s)
                  <input type="number" value={pre} onInput={(e) => setPre(Number(e.currentTarget.value))} />
                </label>
                <label>
                  Post-event (s)
                  <input type="number" value={post} onInput={(e) => setPost(Number(e.currentTarget.value))} />
                </label>
              </div>
            )}
            {kind === "site" && (
              <div class="form-row">
                <label>
                  Monthly budget (GB)
                  <input value={monthlyGb} onInput={(e) => setMonthlyGb(e.currentTarget.value)} placeholder="unlimited" />
                </label>
                <label>
                  Rate cap (Mbit/s)
                  <input value={capMbps} onInput={(e) => setCapMbps(e.currentTarget.value)} placeholder="none" />
                </label>
              </div>
            )}
          </>
        )}
        {errs.length > 0 && (
          <ul class="form-error" role="alert">
            {errs.map((x) => (
              <li key={x}>{x}</li>
            ))}
          </ul>
        )}
        <button class="primary" type="submit" disabled={!!target && !ready}>
          Save policy
        </button>
      </form>
    </section>
  );
}
