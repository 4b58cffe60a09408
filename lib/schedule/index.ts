/**
 * Weekly time windows — the one definition the rules engine (time profiles) and transfer
 * policies (scheduled copies) share, so both answer "is this moment in the window" the same way.
 *
 * A window is { from: "HH:MM", to: "HH:MM", days? } read in a time zone:
 * - from < to: that span on each listed day;
 * - to < from: runs past midnight; the part after midnight belongs to the day it started;
 * - from = to: the whole of each listed day ("00:00"–"24:00" says the same);
 * - days: names ("mon") or numbers (0 = Sunday … 6 = Saturday), both accepted so configurations
 *   written either way keep working; absent = every day.
 * Owns nothing else: no clocks, no persistence.
 */
import { z } from "zod";

export const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type DayName = (typeof DAY_NAMES)[number];

export const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'a time of day as "HH:MM" (00:00–24:00)');
export const Day = z.union([z.enum(DAY_NAMES), z.number().int().min(0).max(6)]);
export type Day = z.infer<typeof Day>;

export const WeeklyWindow = z.strictObject({
  from: HHMM,
  to: HHMM,
  /** Absent = every day. */
  days: z.array(Day).min(1).optional(),
});
export type WeeklyWindow = z.infer<typeof WeeklyWindow>;

/** An IANA time zone name this runtime knows (e.g. "Europe/Oslo"). */
export const TimeZone = z.string().max(100).refine((tz) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "unknown time zone (use an IANA name like Europe/Oslo or UTC)");

const dayNumber = (d: Day): number => (typeof d === "number" ? d : DAY_NAMES.indexOf(d));
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Day of week (0 = Sunday) and minute of day of `ms` in time zone `tz`. */
export function localTime(ms: number, tz: string): { day: number; minute: number } {
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
  let minute = 0;
  for (const p of f.formatToParts(new Date(ms))) {
    if (p.type === "weekday") day = DAY_NAMES.indexOf(p.value.toLowerCase().slice(0, 3) as DayName);
    else if (p.type === "hour") minute += Number(p.value) * 60;
    else if (p.type === "minute") minute += Number(p.value);
  }
  return { day, minute };
}

/** Whether `ms` falls in any of the windows, read in time zone `tz`. */
export function inWindows(windows: readonly WeeklyWindow[], ms: number, tz: string): boolean {
  const { day, minute } = localTime(ms, tz);
  const yesterday = (day + 6) % 7;
  for (const w of windows) {
    const days = w.days ? w.days.map(dayNumber) : null;
    const on = (d: number) => days === null || days.includes(d);
    const a = minutes(w.from);
    const b = minutes(w.to);
    if (a === b) {
      if (on(day)) return true;
    } else if (a < b) {
      if (on(day) && minute >= a && minute < b) return true;
    } else {
      if (on(day) && minute >= a) return true;
      if (on(yesterday) && minute < b) return true;
    }
  }
  return false;
}
