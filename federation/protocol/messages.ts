/**
 * Control-plane message schemas (zod), version 1. Every message carries `v`; a reader checks
 * `v` first and answers an unknown version with a reason (logged by the caller), never a
 * crash. Index payloads use compact tuples because they are the bulk of the bytes on a
 * metered link (see docs/ref/federation.md for one example of each).
 */
import { z } from "zod";
import { findBadText } from "../../lib/text.ts";
import { SitePolicy } from "../transfer/policy.ts";

export const PROTOCOL_VERSION = 1;

// Times are milliseconds in 1970..9999 (what an ISO 8601 date can show); larger would be stored and then fail every read.
const ms = z.number().int().nonnegative().max(253_402_300_799_999);
const cameraId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "invalid camera id");
const stream = z.enum(["main", "sub"]);
const gapReason = z.enum(["camera-offline", "stall", "restart", "disk-full", "disk-slow", "clock-step", "resync", "crash", "auth-failed", "unsupported-codec", "stopped", "retention"]);

/** [startMs, endMs, bytes] */
export const SegmentTuple = z.tuple([ms, ms, z.number().int().nonnegative()]);
/** [startMs, endMs, reason] */
export const GapTuple = z.tuple([ms, ms, gapReason]);

export const EventBody = z.object({
  eventId: z.string().min(1).max(200),
  cameraId: cameraId.optional(),
  kind: z.string().min(1).max(100),
  atMs: ms,
  data: z.record(z.string(), z.unknown()).optional(),
});

export const IndexBody = z.object({
  cameraId,
  stream,
  /** When present, central first deletes its mirror of this window (digest repair). */
  replace: z.object({ fromMs: ms, toMs: ms }).optional(),
  segments: z.array(SegmentTuple),
  gaps: z.array(GapTuple),
});

export const LockItem = z.object({ id: z.string().min(1).max(64), startMs: ms, endMs: ms, reason: z.string().max(500), expiresAtMs: ms.optional() });
/** Full set of a camera's evidence locks (replaces central's copy). */
export const LocksBody = z.object({ cameraId, locks: z.array(LockItem) });

/** Per camera/stream: retention horizon and per-UTC-day digests [dayStartMs, count, hash]. */
export const DigestBody = z.object({
  streams: z.array(
    z.object({
      cameraId,
      stream,
      /** Footage recorded at t is expected to be overwritten at t + horizonMs (null = never/unknown). */
      horizonMs: z.number().int().positive().nullable(),
      /** The digest covers segments starting ≤ segCutoffMs and gaps ending ≤ gapCutoffMs (what was sent). */
      segCutoffMs: z.number().int(),
      gapCutoffMs: z.number().int(),
      days: z.array(z.tuple([ms, z.number().int().nonnegative(), z.string().max(64)])),
    }),
  ),
});

export const TreeStream = z.object({
  kind: stream,
  codec: z.string().max(100).optional(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  status: z.string().max(40),
});
export const TreeCamera = z.object({ id: cameraId, name: z.string().max(200), enabled: z.boolean(), streams: z.array(TreeStream) });
/** The full device tree the edge shares (replaces central's copy). */
export const TreeBody = z.object({ cameras: z.array(TreeCamera) });

export const HealthBody = z.object({
  disk: z.object({ totalBytes: z.number().nonnegative(), freeBytes: z.number().nonnegative(), storeBytes: z.number().nonnegative() }),
  // detail: the edge's reason when the stream is not recording (shown on central's live tiles).
  streams: z.array(z.object({ cameraId, stream, state: z.string().max(40), detail: z.string().max(500).optional(), bitrateKbps: z.number().nonnegative(), fps: z.number().nonnegative() })),
  link: z.object({ type: z.string().max(40), quality: z.number().min(0).max(1).nullable() }),
  clock: z.object({ offsetMs: z.number().nullable(), trusted: z.boolean() }),
  cert: z.object({ notAfter: z.string().nullable(), daysLeft: z.number().nullable() }),
  software: z.object({ version: z.string().max(100) }),
  outbox: z.object({ pending: z.number().int().nonnegative(), bytes: z.number().int().nonnegative(), dropped: z.number().int().nonnegative() }),
  config: z.object({ appliedVersion: z.number().int().nonnegative().nullable() }),
});

export const ConfigStatusBody = z.object({ version: z.number().int().nonnegative(), state: z.enum(["applied", "rejected"]), reason: z.string().max(2000).optional() });

export const CommandResultBody = z.object({
  commandId: z.string().min(1).max(100),
  status: z.enum(["ok", "failed", "expired", "unknown-command"]),
  result: z.unknown().optional(),
  error: z.string().max(2000).optional(),
});

/** Droppable time series: GPS/vehicle points, log lines above a level, counters. */
export const TelemetryBody = z.object({
  kind: z.string().min(1).max(100),
  cameraId: cameraId.optional(),
  atMs: ms,
  data: z.record(z.string(), z.unknown()),
});

/** [atMs, mode, lat, lon, speed m/s, heading °]: mode 0 no source, 1 no fix, 2/3 fix (with lat/lon). */
export const TrackPoint = z
  .tuple([
    ms,
    z.number().int().min(0).max(3),
    z.number().min(-90).max(90).nullable(),
    z.number().min(-180).max(180).nullable(),
    z.number().min(0).max(1000).nullable(),
    z.number().min(0).max(360).nullable(),
  ])
  .refine((p) => (p[1] >= 2) === (p[2] !== null && p[3] !== null), "a point has lat and lon exactly when its mode is 2 or 3");

/** A chunk of the edge's kept track (index-first like segments): points in time order, at most 10 minutes. */
export const TrackBody = z
  .object({ points: z.array(TrackPoint).min(1).max(1000) })
  .refine((b) => b.points.every((p, i) => i === 0 || p[0] > b.points[i - 1]![0]), "points must be in strictly increasing time order")
  // Guarded: zod runs refinements even when the array failed its own checks (an empty chunk must be refused, not throw).
  .refine((b) => b.points.length === 0 || b.points.at(-1)![0] - b.points[0]![0] <= 600_000, "a chunk spans at most 10 minutes");

/** Telemetry kind "position" (droppable, the latest only): the vehicle now, for the live map. */
export const PositionData = z.object({
  mode: z.number().int().min(0).max(3),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
  speed: z.number().min(0).max(1000).optional(),
  heading: z.number().min(0).max(360).optional(),
  vehicle: z.enum(["running", "stopping", "parked", "low-voltage"]).optional(),
  lastOffloadMs: ms.optional(),
});

export const DroppedBody = z.object({ count: z.number().int().positive(), byType: z.record(z.string(), z.number().int()), fromSeq: ms, toSeq: ms });

export const upBodies = {
  event: EventBody,
  index: IndexBody,
  locks: LocksBody,
  digest: DigestBody,
  tree: TreeBody,
  health: HealthBody,
  "config-status": ConfigStatusBody,
  "command-result": CommandResultBody,
  dropped: DroppedBody,
  telemetry: TelemetryBody,
  track: TrackBody,
} as const;
export type UpType = keyof typeof upBodies;
export type UpBody<T extends UpType> = z.infer<(typeof upBodies)[T]>;

/** Outbox lane: telemetry may be dropped (oldest first) when the outbox is full; critical never. */
export function laneOf(type: UpType): "critical" | "telemetry" {
  return type === "health" || type === "digest" || type === "telemetry" ? "telemetry" : "critical";
}

const envelope = {
  v: z.literal(PROTOCOL_VERSION),
  /** Outbox id: random per edge outbox; seq restarts only with a new outbox id. */
  ob: z.string().min(8).max(64),
  seq: z.number().int().positive(),
  /** Edge wall clock when enqueued. */
  at: ms,
};
export const UpMessage = z.discriminatedUnion(
  "type",
  (Object.keys(upBodies) as UpType[]).map((t) => z.object({ ...envelope, type: z.literal(t), body: upBodies[t] })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<UpType> }>,
  ],
);
export type UpMessage = { [T in UpType]: { v: 1; ob: string; seq: number; at: number; type: T; body: UpBody<T> } }[UpType];

export const Hello = z.object({
  v: z.literal(PROTOCOL_VERSION),
  ob: z.string().min(8).max(64),
  /** Oldest and newest seq still in the outbox (0 when empty). */
  firstSeq: ms,
  lastSeq: ms,
  software: z.string().max(100),
});
export type Hello = z.infer<typeof Hello>;

/** Central → edge: everything with seq ≤ upTo (for outbox ob) is stored at central. */
export const Ack = z.object({
  v: z.literal(PROTOCOL_VERSION),
  ob: z.string().min(8).max(64),
  upTo: ms,
  /** Central's wall clock when it sent the ack: the edge estimates its clock offset from it. */
  centralAt: ms.optional(),
  /**
   * Central may have missed messages after `upTo` (it (re)subscribed to the broker, or the next
   * seq it saw did not follow `upTo` since then): send again from `upTo` + 1 now. An edge that
   * ignores it still resends at its ack timeout.
   */
  resend: z.boolean().optional(),
});
export type Ack = z.infer<typeof Ack>;

const retentionCfg = z.object({ maxAgeHours: z.number().positive().optional(), maxBytes: z.number().int().positive().optional() }).strict();
export const recordingOption = z.enum(["none", "edge-only", "on-request", "scheduled", "on-event", "after-link-down", "central-only", "both"]);

/** What central may set on an edge. Strict: an unknown key is a rejection, not a silent no-op. */
export const DesiredConfig = z
  .object({
    recording: z.array(recordingOption).min(1).optional(),
    retention: retentionCfg.optional(),
    healthIntervalMs: z.number().int().min(1000).max(3_600_000).optional(),
    /** Interconnect recording options + link profiles (federation/transfer; set via PUT /api/v1/sites/{id}/policy). */
    policy: SitePolicy.optional(),
    cameras: z
      .record(
        cameraId,
        z.object({ enabled: z.boolean().optional(), recording: z.array(recordingOption).min(1).optional(), retention: retentionCfg.optional() }).strict(),
      )
      .optional(),
  })
  .strict();
export type DesiredConfig = z.infer<typeof DesiredConfig>;

export const ConfigMessage = z.object({ v: z.literal(PROTOCOL_VERSION), version: z.number().int().positive(), issuedAt: ms, config: z.unknown() });
export type ConfigMessage = z.infer<typeof ConfigMessage>;

export const CommandMessage = z.object({
  v: z.literal(PROTOCOL_VERSION),
  id: z.string().min(1).max(100),
  name: z.string().min(1).max(100),
  args: z.record(z.string(), z.unknown()).default({}),
  expiresAt: ms,
});
export type CommandMessage = z.infer<typeof CommandMessage>;

export type Parsed<T> = { ok: true; msg: T } | { ok: false; reason: string };

/** JSON + version check + text rule + schema, with a sentence for the log instead of a throw. */
export function parseMessage<T>(schema: z.ZodType<T>, payload: Uint8Array | string): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload));
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (!raw || typeof raw !== "object") return { ok: false, reason: "not a JSON object" };
  const v = (raw as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported protocol version ${JSON.stringify(v)} (this side speaks v${PROTOCOL_VERSION})` };
  // Every string, free-form data included, obeys the text rule: a NUL in an evidence-lock
  // reason is refused here with its field named, never left to fail a database write.
  const bad = findBadText(raw);
  if (bad) return { ok: false, reason: `${bad.path}: ${bad.message}` };
  const r = schema.safeParse(raw);
  if (!r.success) return { ok: false, reason: r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "message"}: ${i.message}`).join("; ") };
  return { ok: true, msg: r.data };
}

export function parseUp(payload: Uint8Array | string): Parsed<UpMessage> {
  return parseMessage(UpMessage as unknown as z.ZodType<UpMessage>, payload);
}

/** Reads seq/ob of a message we could not parse, so central can still step over it. */
export function peekSeq(payload: Uint8Array | string): { ob: string; seq: number } | null {
  try {
    const raw = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload)) as { ob?: unknown; seq?: unknown };
    return typeof raw.ob === "string" && typeof raw.seq === "number" && Number.isSafeInteger(raw.seq) ? { ob: raw.ob, seq: raw.seq } : null;
  } catch {
    return null;
  }
}

/** Central's camera id for an edge camera: `<siteId>.<cameraId>` (site ids have no dots). */
export function centralCameraId(siteId: string, cameraId: string): string {
  return `${siteId}.${cameraId}`;
}
export function splitCentralCameraId(id: string): { siteId: string; cameraId: string } | null {
  const i = id.indexOf(".");
  if (i <= 0 || i === id.length - 1) return null;
  return { siteId: id.slice(0, i), cameraId: id.slice(i + 1) };
}
