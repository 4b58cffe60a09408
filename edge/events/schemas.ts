/** Shapes of GET /api/v1/events on the edge API (the handler validates with these; edge/api's OpenAPI lists them). */
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";

const time = (name: string) =>
  z
    .string()
    .refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && Number.isFinite(Date.parse(v)), `${name} must be an ISO 8601 time (e.g. 2026-01-01T00:00:00Z)`)
    .optional();

export const EventQuery = z.object({
  from: time("from").describe("observed at ≥"),
  to: time("to").describe("observed at <"),
  camera: z.string().min(1).max(64).optional(),
  limit: intQuery({ min: 1, max: 10_000 }).default(1000).describe("the newest this many when more match"),
});

export const EventOut = z.object({
  id: z.string(),
  type: z.string().describe("motion, input, onvif, camera.offline, camera.online, disk.full, disk.ok"),
  cameraId: z.string().nullable(),
  time: z.string().describe("when the edge observed it (host clock), ISO 8601 UTC"),
  data: z.record(z.string(), z.unknown()),
});

export const EventList = z.object({ events: z.array(EventOut) });
