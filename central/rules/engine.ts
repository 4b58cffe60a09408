/**
 * Rule matching: which rules an event fires, with a reason for each that does not (dry run).
 * Rules are indexed by exact type so 200 rules cost a map lookup plus a short scan of prefix
 * rules per event. Time profiles are read at the event's original time, never arrival time:
 * a late event is judged by when it happened.
 */
import type { EventRec } from "../events/index.ts";
import { DAYS, type Rule, type TimeProfile } from "./schema.ts";

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

const formatters = new Map<string, Intl.DateTimeFormat>();
function localParts(ms: number, tz: string): { day: number; minute: number } {
  if (tz === "UTC") {
    const d = new Date(ms);
    return { day: d.getUTCDay(), minute: d.getUTCHours() * 60 + d.getUTCMinutes() };
  }
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    formatters.set(tz, f);
  }
  let day = 0;
  let h = 0;
  let m = 0;
  for (const p of f.formatToParts(new Date(ms))) {
    if (p.type === "weekday") day = DAYS.indexOf(p.value.toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
    else if (p.type === "hour") h = Number(p.value);
    else if (p.type === "minute") m = Number(p.value);
  }
  return { day, minute: h * 60 + m };
}

/** True when `ms` falls in one of the profile's windows (in its time zone). */
export function inProfile(p: TimeProfile, ms: number): boolean {
  const { day, minute } = localParts(ms, p.timezone);
  const today = DAYS[day]!;
  const yesterday = DAYS[(day + 6) % 7]!;
  for (const w of p.windows) {
    const from = minutes(w.from);
    const to = minutes(w.to);
    if (from <= to) {
      if (w.days.includes(today) && minute >= from && minute < to) return true;
    } else {
      // Overnight window: the evening part belongs to the listed day, the morning part to the next.
      if (w.days.includes(today) && minute >= from) return true;
      if (w.days.includes(yesterday) && minute < to) return true;
    }
  }
  return false;
}

export interface Verdict {
  rule: Rule;
  fires: boolean;
  reason: string;
}

const typeMatches = (pattern: string, type: string) => pattern === "*" || pattern === type || (pattern.endsWith("*") && type.startsWith(pattern.slice(0, -1)));

export class RuleIndex {
  private exact = new Map<string, Rule[]>();
  private prefix: Rule[] = [];

  constructor(
    readonly rules: readonly Rule[],
    private readonly profiles: ReadonlyMap<string, TimeProfile>,
  ) {
    for (const r of rules) {
      if (!r.enabled) continue;
      const exactTypes = r.match.types.filter((t) => !t.endsWith("*"));
      if (exactTypes.length < r.match.types.length) this.prefix.push(r);
      else for (const t of exactTypes) this.exact.set(t, [...(this.exact.get(t) ?? []), r]);
    }
  }

  /** Rules that fire for this event, in rule order. */
  firing(e: EventRec): Rule[] {
    const out: Rule[] = [];
    for (const r of this.exact.get(e.type) ?? []) if (this.check(r, e) === null) out.push(r);
    for (const r of this.prefix) if (this.check(r, e) === null) out.push(r);
    return out;
  }

  /** Every rule with whether it fires and why not (dry run). */
  explain(e: EventRec): Verdict[] {
    return this.rules.map((rule) => {
      if (!rule.enabled) return { rule, fires: false, reason: "the rule is disabled" };
      const why = this.check(rule, e);
      return { rule, fires: why === null, reason: why ?? "matches" };
    });
  }

  /** null when the rule fires, else the first reason it does not. */
  private check(r: Rule, e: EventRec): string | null {
    const m = r.match;
    if (!m.types.some((t) => typeMatches(t, e.type))) return `type ${e.type} is not one of ${m.types.join(", ")}`;
    if (m.sites && !(e.siteId && m.sites.includes(e.siteId))) return `site ${e.siteId ?? "(none)"} is not one of ${m.sites.join(", ")}`;
    if (m.cameras && !(e.cameraId && m.cameras.includes(e.cameraId))) return `camera ${e.cameraId ?? "(none)"} is not one of ${m.cameras.join(", ")}`;
    if (m.late !== undefined && m.late !== e.late) return m.late ? "the event is not late" : "the event is late";
    if (m.data) for (const [k, v] of Object.entries(m.data)) if (e.data[k] !== v) return `data.${k} is ${JSON.stringify(e.data[k])}, not ${JSON.stringify(v)}`;
    if (r.timeProfile) {
      const p = this.profiles.get(r.timeProfile);
      if (!p) return `time profile ${r.timeProfile} does not exist`;
      if (!inProfile(p, e.timeMs)) return `the event's original time ${e.time} is outside time profile ${p.name}`;
    }
    return null;
  }
}
