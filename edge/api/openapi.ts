/**
 * OpenAPI 3.1 document of the edge API, generated from the zod schemas the handlers validate
 * with (z.toJSONSchema), so the document cannot drift from what the server accepts.
 */
import { z } from "zod";
import * as S from "./schemas.ts";
import { EventList, EventQuery } from "../events/schemas.ts";
import { TransfersOut } from "../transfer/routes.ts";
import { PositionOut, PositionQuery } from "../position/position.ts";
import { InputAccepted, InputBody, VehicleOut } from "../vehicle/vehicle.ts";

interface Route {
  method: "get" | "post" | "delete";
  path: string;
  summary: string;
  auth?: boolean;
  query?: z.ZodObject;
  body?: z.ZodType;
  ok: { status: number; description: string; schema?: z.ZodType; type?: string };
  errors?: number[];
}

const BASE_ERRORS = [400, 401, 404];

export const routes: Route[] = [
  { method: "post", path: "/login", summary: "Log in as the local admin; returns a bearer token and sets an HttpOnly session cookie", auth: false, body: S.LoginBody, ok: { status: 200, description: "session", schema: S.LoginResponse }, errors: [400, 401, 429, 503] },
  { method: "post", path: "/logout", summary: "End the session", ok: { status: 204, description: "logged out" }, errors: [401] },
  { method: "get", path: "/cameras", summary: "Cameras and stream status", ok: { status: 200, description: "cameras", schema: S.CameraList }, errors: [401] },
  { method: "get", path: "/cameras/{id}", summary: "One camera with stream status", ok: { status: 200, description: "camera", schema: S.CameraOut } },
  { method: "get", path: "/cameras/{id}/timeline", summary: "Recorded ranges and gaps with reasons (window ≤ 31 days)", query: S.WindowQuery, ok: { status: 200, description: "timeline", schema: S.TimelineOut } },
  { method: "get", path: "/cameras/{id}/video", summary: "Playback of a window as fragmented MP4 (Range supported; media time 0 = X-Outpost-Start; gaps keep their wall-time length)", query: S.WindowQuery, ok: { status: 200, description: "fMP4 (206 for a range)", type: "video/mp4" }, errors: [400, 401, 404, 416] },
  { method: "get", path: "/cameras/{id}/video.mp4", summary: "Same as …/video (the name HLS playlists use for their media URI)", query: S.WindowQuery, ok: { status: 200, description: "fMP4 (206 for a range)", type: "video/mp4" }, errors: [400, 401, 404, 416] },
  { method: "get", path: "/cameras/{id}/video.m3u8", summary: "Playback of a window as an HLS VOD playlist (fMP4 byte ranges of …/video)", query: S.WindowQuery, ok: { status: 200, description: "playlist", type: "application/vnd.apple.mpegurl" } },
  { method: "get", path: "/cameras/{id}/snapshot.jpg", summary: "JPEG of the latest recorded keyframe", query: S.StreamQuery, ok: { status: 200, description: "JPEG", type: "image/jpeg" }, errors: [400, 401, 404, 500] },
  { method: "post", path: "/exports", summary: "Export a window to one MP4 (job)", body: S.ExportBody, ok: { status: 202, description: "job accepted", schema: S.ExportOut } },
  { method: "get", path: "/exports", summary: "Export jobs", ok: { status: 200, description: "jobs", schema: S.ExportList }, errors: [401] },
  { method: "get", path: "/exports/{id}", summary: "Export job state and progress", ok: { status: 200, description: "job", schema: S.ExportOut } },
  { method: "get", path: "/exports/{id}/file", summary: "The exported MP4 (Range supported)", ok: { status: 200, description: "MP4", type: "video/mp4" }, errors: [401, 404, 409] },
  { method: "get", path: "/exports/{id}/package", summary: "The export's evidence package (ZIP; X-Outpost-SHA256 = its SHA-256; check with `outpost verify`)", ok: { status: 200, description: "ZIP", type: "application/zip" }, errors: [401, 404, 409] },
  { method: "post", path: "/evidence-locks", summary: "Lock a camera window against retention", body: S.LockBody, ok: { status: 201, description: "lock", schema: S.LockOut } },
  { method: "get", path: "/evidence-locks", summary: "Evidence locks", query: S.LockQuery, ok: { status: 200, description: "locks", schema: S.LockList }, errors: [401] },
  { method: "get", path: "/evidence-locks/{id}", summary: "One evidence lock", ok: { status: 200, description: "lock", schema: S.LockOut }, errors: [401, 404] },
  { method: "delete", path: "/evidence-locks/{id}", summary: "Release an evidence lock", ok: { status: 204, description: "released" }, errors: [401, 404] },
  { method: "get", path: "/cameras/{id}/live", summary: "WebSocket: live fMP4 for MSE (edge/live; upgrade required)", query: S.StreamQuery, ok: { status: 101, description: "switching protocols" }, errors: [400, 401, 404] },
  { method: "get", path: "/cameras/{id}/live.m3u8", summary: "LL-HLS playlist of a live camera (edge/live)", query: S.StreamQuery, ok: { status: 200, description: "playlist", type: "application/vnd.apple.mpegurl" } },
  { method: "get", path: "/cameras/{id}/live/{file}", summary: "LL-HLS init, parts and segments (edge/live)", ok: { status: 200, description: "media", type: "video/mp4" } },
  { method: "get", path: "/events", summary: "Events this edge observed (ONVIF motion/inputs, camera online/offline, disk), oldest first", query: EventQuery, ok: { status: 200, description: "events", schema: EventList }, errors: [400, 401] },
  { method: "get", path: "/position", summary: "Position source state, the latest fix and the kept track points of a window (≤ 31 days)", query: PositionQuery, ok: { status: 200, description: "position and track", schema: PositionOut }, errors: [400, 401] },
  { method: "post", path: "/inputs", summary: "A vehicle input changed (ignition, door-*, panic, reverse, low-voltage, …): recorded as an event with its time; ignition and low voltage drive recording", body: InputBody, ok: { status: 202, description: "input recorded", schema: InputAccepted }, errors: [400, 401, 415] },
  { method: "get", path: "/vehicle", summary: "Vehicle state (running, stopping after ignition off, parked, low-voltage) and the last value of each input", ok: { status: 200, description: "vehicle", schema: VehicleOut }, errors: [401] },
  { method: "get", path: "/transfers", summary: "This edge's transfer queue: uploads running, queue by class and its first items, measured bytes/s, link, budget", ok: { status: 200, description: "transfer queue", schema: TransfersOut }, errors: [401] },
  { method: "get", path: "/health", summary: "Liveness without a session; with a session also disk, streams, clock, storage (retention horizon, oldest footage), the link to central (connected, last ack, outbox, certificate, refused) and software (version, firmware slot)", auth: false, ok: { status: 200, description: "health", schema: S.Liveness } },
  { method: "get", path: "/openapi.json", summary: "This document", auth: false, ok: { status: 200, description: "OpenAPI 3.1" } },
];

function schema(t: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(t, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(version = "0.1.0"): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params: unknown[] = [];
    for (const m of r.path.matchAll(/\{(\w+)\}/g)) params.push({ name: m[1], in: "path", required: true, schema: { type: "string" } });
    if (r.query) {
      for (const [name, field] of Object.entries(r.query.shape)) {
        const f = field as z.ZodType;
        params.push({ name, in: "query", required: !f.safeParse(undefined).success, schema: schema(f, "input"), description: f.description });
      }
    }
    const responses: Record<string, unknown> = {
      [r.ok.status]: {
        description: r.ok.description,
        ...(r.ok.schema ? { content: { "application/json": { schema: schema(r.ok.schema, "output") } } } : r.ok.type ? { content: { [r.ok.type]: {} } } : {}),
      },
    };
    for (const s of r.errors ?? BASE_ERRORS) {
      responses[s] = { description: "problem", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
    }
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      ...(r.auth === false ? { security: [] } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: schema(r.body, "input") } } } } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Outpost edge API", version, description: "Local API of an Outpost edge recorder. Errors are application/problem+json; times are ISO 8601 UTC." },
    servers: [{ url: "/api/v1" }],
    security: [{ bearer: [] }, { cookie: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        cookie: { type: "apiKey", in: "cookie", name: "outpost_session" },
      },
      schemas: { Problem: schema(S.Problem, "output") },
    },
    paths,
  };
}

/**
 * Hono's routes of the assembled edge app (after edge/live, edge/events and the web client
 * mounted theirs) against the document: `undocumented` are served but not listed, `unserved`
 * listed but not served. The web client's page fallback (GET /*) is no API route.
 */
export function routeDrift(app: { routes: { method: string; path: string }[] }): { undocumented: string[]; unserved: string[] } {
  const documented = new Set(routes.map((r) => `${r.method.toUpperCase()} /api/v1${r.path}`));
  const served = new Set<string>();
  for (const r of app.routes) {
    if (r.method === "ALL" || (r.method === "GET" && r.path === "/*")) continue;
    served.add(`${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
  }
  return { undocumented: [...served].filter((k) => !documented.has(k)).sort(), unserved: [...documented].filter((k) => !served.has(k)).sort() };
}
