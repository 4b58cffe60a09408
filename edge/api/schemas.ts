/**
 * Request and response shapes of the edge API as zod schemas: handlers validate with them and
 * openapi.ts generates the OpenAPI document from the very same objects. Times are ISO 8601 UTC.
 */
import { z } from "zod";

const isoTime = (what: string) =>
  z.iso.datetime({ offset: true, error: `${what} must be an ISO 8601 time with a timezone, e.g. 2026-01-01T00:00:00Z` }).describe(`${what}, ISO 8601`);

export const StreamKindSchema = z.enum(["main", "sub"], { error: "stream must be 'main' or 'sub'" });

export const WindowQuery = z.object({
  from: isoTime("from"),
  to: isoTime("to"),
  stream: StreamKindSchema.optional().describe("camera stream, default main"),
});

export const StreamQuery = z.object({ stream: StreamKindSchema.optional() });

export const LoginBody = z.object({
  user: z.string({ error: "user is required" }).min(1, "user is required"),
  password: z.string({ error: "password is required" }).min(1, "password is required"),
});

export const LoginResponse = z.object({ token: z.string(), user: z.string(), expiresAt: z.string() });

export const StreamOut = z.object({
  stream: StreamKindSchema,
  status: z.enum(["connecting", "recording", "not-writing", "stalled", "failed", "disabled"]),
  reason: z.string().optional(),
  since: z.string().optional(),
  codec: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  writerLagMs: z.number().optional().describe("age of the oldest received fragment not yet on stable storage"),
  audio: z
    .object({ codec: z.string(), recorded: z.boolean(), detail: z.string().optional(), state: z.enum(["ok", "missing"]).optional(), missingMs: z.number().optional() })
    .optional()
    .describe("the camera's audio track: its codec, whether it is recorded (and why not / how), and missing = video arrives without audio"),
  recorded: z
    .object({ first: z.string(), last: z.string(), bytes: z.number(), segments: z.number() })
    .optional()
    .describe("what the store holds for this stream"),
});

export const CameraOut = z.object({ id: z.string(), name: z.string(), streams: z.array(StreamOut) });
export const CameraList = z.object({ cameras: z.array(CameraOut) });

export const GapOut = z.object({ start: z.string(), end: z.string(), reason: z.string(), detail: z.string().optional() });
export const TimelineOut = z.object({
  cameraId: z.string(),
  stream: StreamKindSchema,
  from: z.string(),
  to: z.string(),
  ranges: z.array(z.object({ start: z.string(), end: z.string() })),
  gaps: z.array(GapOut),
  segments: z.number().describe("number of segments in the window"),
});

export const ExportBody = z.object({
  cameraId: z.string({ error: "cameraId is required" }).min(1, "cameraId is required"),
  from: isoTime("from"),
  to: isoTime("to"),
  stream: StreamKindSchema.optional(),
});

export const ExportOut = z.object({
  id: z.string(),
  cameraId: z.string(),
  stream: StreamKindSchema,
  from: z.string(),
  to: z.string(),
  state: z.enum(["queued", "running", "done", "failed"]),
  progress: z.number().describe("0–100"),
  bytesDone: z.number(),
  bytesTotal: z.number(),
  sizeBytes: z.number().optional(),
  error: z.string().optional(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
  download: z.string().optional().describe("URL of the MP4 once done"),
  package: z.string().optional().describe("URL of the evidence package (ZIP: MP4, segments, hash chain, signatures, certificates) once done"),
});
export const ExportList = z.object({ exports: z.array(ExportOut) });

export const LockBody = z.object({
  cameraId: z.string({ error: "cameraId is required" }).min(1, "cameraId is required"),
  from: isoTime("from"),
  to: isoTime("to"),
  // The check's own message wins over the schema-wide one: a long reason is "too long", not "required".
  reason: z.string({ error: "reason is required" }).min(1, "reason is required").max(500, "reason is too long: at most 500 characters"),
  expiresAt: isoTime("expiresAt").optional().describe("absent = until deleted"),
});

export const LockOut = z.object({
  id: z.string(),
  cameraId: z.string(),
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
});
export const LockList = z.object({ locks: z.array(LockOut) });
export const LockQuery = z.object({ cameraId: z.string().optional() });

export const Liveness = z.object({ status: z.literal("ok"), time: z.string() });

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string().optional(),
  instance: z.string().optional(),
});
