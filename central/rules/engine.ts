/**
 * Rule matching: which rules an event fires, with a reason for each that does not (dry run).
 * Rules are indexed by exact type so 200 rules cost a map lookup plus a short scan of prefix
 * rules per event. Time profiles are read at the event's original time, never arrival time:
 * a late event is judged by when it happened.
 */
import type { EventRec } from "../events/index.ts";
import { inWindows } from "../../lib/schedule/index.ts";
import type { Rule, TimeProfile } from "./schema.ts";

/** True when `ms` falls in one of the profile's windows (in its time zone). */
export function inProfile(p: TimeProfile, ms: number): boolean {
  return inWindows(p.windows, ms, p.timezone);
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
