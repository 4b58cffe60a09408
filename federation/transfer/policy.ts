/**
 * Interconnect recording options as data (DESIGN.md principle 5): a site policy with per-camera
 * overrides, time profiles evaluated in the site's time zone, stream choice, pre/post windows,
 * and link profiles (rate cap, monthly budget, classes allowed per link). Central plans jobs
 * from it; the edge enforces the link part. Shape accepted by PUT /api/v1/sites/{id}/policy
 * and carried to the edge as `policy` in the desired config.
 */
import { z } from "zod";
import { TimeZone, WeeklyWindow, inWindows, localTime } from "../../lib/schedule/index.ts";

export const RECORDING_OPTIONS = ["none", "edge-only", "on-request", "scheduled", "on-event", "after-link-down", "central-only", "both"] as const;
export const RecordingOption = z.enum(RECORDING_OPTIONS);
export type RecordingOption = z.infer<typeof RecordingOption>;

/** Transfer classes, highest first: evidence/alarm > user request > event > scheduled > gap backfill. */
export const TRANSFER_CLASSES = ["alarm", "request", "event", "scheduled", "backfill"] as const;
export const TransferClass = z.enum(TRANSFER_CLASSES);
export type TransferClass = z.infer<typeof TransferClass>;
/**
 * Previews (thumbnails + activity index, lib/preview) travel in their own class: after alarm and
 * request, before every other, and only on links that allow it.
 */
export const PREVIEW_CLASS = "preview" as const;
/** Bigger = more urgent. */
export const classRank = (c: TransferClass): number => TRANSFER_CLASSES.length - TRANSFER_CLASSES.indexOf(c);

const stream = z.enum(["main", "sub"]);

/** One weekly window (lib/schedule: the same windows the rules engine's time profiles use). */
export const TimeWindow = WeeklyWindow;
export type TimeWindow = WeeklyWindow;

export const LinkProfile = z
  .object({
    /** Cap for transfers on this link, bits per second; null/absent = no cap. */
    rateBitsPerSecond: z.number().int().positive().nullable().optional(),
    /** Calendar-month budget (UTC months) for transfers on this link; null/absent = unlimited. */
    monthlyBytes: z.number().int().positive().nullable().optional(),
    /** Classes allowed on this link (and "preview": thumbnails + activity); absent = all. */
    allow: z.array(z.union([TransferClass, z.literal(PREVIEW_CLASS)])).optional(),
  })
  .strict();
export type LinkProfile = z.infer<typeof LinkProfile>;

const policyFields = {
  options: z.array(RecordingOption).min(1, "choose at least one recording option"),
  /** Which stream each transfer copies (default main). */
  stream: stream.optional(),
  /** `scheduled`: windows in the site's time zone; `links` restricts scheduled copies further (e.g. ["wifi"]). */
  schedule: z
    .union([TimeWindow, z.object({ windows: z.array(TimeWindow).min(1), links: z.array(z.string().min(1).max(40)).optional() }).strict()])
    .optional(),
  /** `on-event`: window around each matching event; kinds absent = every event naming the camera. */
  event: z
    .object({
      preSeconds: z.number().min(0).max(3600),
      postSeconds: z.number().min(0).max(3600),
      kinds: z.array(z.string().min(1).max(100)).optional(),
    })
    .strict()
    .optional(),
};

function checkOptions(p: { options: RecordingOption[]; schedule?: unknown }, ctx: z.RefinementCtx): void {
  const o = p.options;
  if (new Set(o).size !== o.length) ctx.addIssue({ code: "custom", path: ["options"], message: "an option is listed twice" });
  for (const x of ["none", "central-only", "both"] as const) {
    if (o.includes(x) && o.length > 1) ctx.addIssue({ code: "custom", path: ["options"], message: `"${x}" cannot be combined with other options` });
  }
  if (o.includes("scheduled") && !p.schedule) ctx.addIssue({ code: "custom", path: ["schedule"], message: '"scheduled" needs a schedule (e.g. {"from":"01:00","to":"05:00"})' });
}

export const CameraPolicy = z.object(policyFields).strict().superRefine(checkOptions);
export type CameraPolicy = z.infer<typeof CameraPolicy>;

export const SitePolicy = z
  .object({
    ...policyFields,
    /** IANA zone for schedules, e.g. "Europe/Oslo" (default UTC). */
    timeZone: TimeZone.optional(),
    /** Links the edge may use, by the link type it reports (e.g. cellular, wifi). Absent = any link, no limits. */
    links: z.record(z.string().min(1).max(40), LinkProfile).optional(),
    /** Shorthand the web client sends: applies to every metered link (any link except "wifi"/"ethernet"). */
    budget: z
      .object({ monthlyBytes: z.number().int().positive().nullable().optional(), rateBitsPerSecond: z.number().int().positive().nullable().optional() })
      .strict()
      .optional(),
    /**
     * Depot offload: while the vehicle is parked (ignition off) and the edge reports one of these
     * links (e.g. ["depot-wifi"]), central pulls every segment it lacks of cameras whose option is
     * not "none" or "edge-only", at bulk (`scheduled`) class, on these links only.
     */
    offload: z.object({ links: z.array(z.string().min(1).max(40)).min(1) }).strict().optional(),
    /** `central-only`: hours the edge keeps as a rolling buffer (default 24). */
    bufferHours: z.number().positive().max(24 * 90).optional(),
    /** Per-camera overrides (edge camera ids). */
    cameras: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/), CameraPolicy).optional(),
  })
  .strict()
  .superRefine(checkOptions);
export type SitePolicy = z.infer<typeof SitePolicy>;

export interface EffectivePolicy {
  options: RecordingOption[];
  stream: "main" | "sub";
  windows: TimeWindow[];
  scheduleLinks: string[] | null;
  event: { preMs: number; postMs: number; kinds: string[] | null } | null;
  timeZone: string;
}

/** The site's policy with a camera's override applied (the override replaces the fields it sets). */
export function effectivePolicy(site: SitePolicy | null | undefined, cameraId: string): EffectivePolicy {
  const cam = site?.cameras?.[cameraId];
  const options = cam?.options ?? site?.options ?? ["edge-only"];
  const sched = cam?.schedule ?? site?.schedule;
  const ev = cam?.event ?? site?.event;
  return {
    options,
    stream: cam?.stream ?? site?.stream ?? "main",
    windows: !sched ? [] : "windows" in sched ? sched.windows : [sched],
    scheduleLinks: sched && "windows" in sched && sched.links ? sched.links : null,
    event: ev ? { preMs: ev.preSeconds * 1000, postMs: ev.postSeconds * 1000, kinds: ev.kinds ?? null } : options.includes("on-event") ? { preMs: 30_000, postMs: 30_000, kinds: null } : null,
    timeZone: site?.timeZone ?? "UTC",
  };
}

const UNMETERED = new Set(["wifi", "ethernet", "lan"]);

/** The profile for a link type: explicit `links` entry, else the `budget` shorthand for metered links, else unlimited. */
export function linkProfile(site: SitePolicy | null | undefined, linkType: string): LinkProfile {
  const explicit = site?.links?.[linkType];
  if (explicit) return explicit;
  if (site?.links && Object.keys(site.links).length && !site.budget) return { allow: [] }; // listed links only
  if (site?.budget && !UNMETERED.has(linkType)) return { rateBitsPerSecond: site.budget.rateBitsPerSecond ?? null, monthlyBytes: site.budget.monthlyBytes ?? null };
  return {};
}

export function classAllowed(p: LinkProfile, c: TransferClass | typeof PREVIEW_CLASS): boolean {
  return !p.allow || p.allow.includes(c);
}

/** Minutes since local midnight and weekday at `ms` in zone `tz`. */
export { inWindows, localTime };

/** The month a byte is counted in (UTC): "2026-11". */
export function budgetMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}
