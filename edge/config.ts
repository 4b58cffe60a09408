/**
 * The edge recorder's configuration: one zod schema, every key with its default, documented
 * in docs/ref/edge-config.md (keep the two in step). Loaded by lib/config (YAML/TOML/JSON +
 * OUTPOST_A__B environment overrides); a bad file names the key and never starts half-way.
 */
import { RetentionConfig } from "../lib/store/retention-config.ts";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { MetricsConfig } from "../lib/metrics/config.ts";
import { ApiTlsFiles } from "../lib/http/https.ts";
import { loadConfig, type LoadConfigOptions } from "../lib/config/index.ts";

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit");

const rtspUrl = z.string().refine((s) => /^rtsp:\/\/[^\s/]+/i.test(s), "must be an rtsp:// URL");

/** Age and size per camera: the same schema as central's (lib/store/retention-config.ts). */
const retention = RetentionConfig;

export const cameraSchema = z
  .object({
    id,
    name: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
    rtsp: z.object({ main: rtspUrl, sub: rtspUrl.optional() }).strict().optional(),
    onvif: z.object({ address: z.string().min(1) }).strict().optional(),
    user: z.string().optional(),
    password: z.string().optional(),
    /** Which streams to record; default both (sub only if the camera has one). */
    streams: z.array(z.enum(["main", "sub"])).min(1).default(["main", "sub"]),
    /** Overrides the edge-wide `retention` for this camera. */
    retention: retention.optional(),
  })
  .strict()
  .refine((c) => !!c.rtsp !== !!c.onvif, { message: "give either rtsp.main or onvif.address (exactly one)" });

export const edgeConfigSchema = z
  .object({
    /** Store root and edge state (pidfile, exports). Relative paths are relative to the config file. */
    dataDir: z.string().min(1).default("./data"),
    name: z.string().min(1).default("edge"),
    logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
    /** Demo edge (outpost demo): allowed to run with a generated admin password. */
    demo: z.boolean().default(false),
    api: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Names (DNS / IP) in the self-signed API certificate the edge makes for itself; a change makes a new one. */
        serverNames: z.array(z.string().min(1)).min(1).default(["localhost", "127.0.0.1", "::1"]),
        /** The admin's own certificate and key files (PEM) instead of the self-signed one. */
        tls: ApiTlsFiles.optional(),
        /** Plain HTTP (passwords and cookies in clear): only when asked, warned about at start. */
        plainHttp: z.boolean().default(false),
      })
      .strict()
      .refine((a) => !(a.plainHttp && a.tls), { message: "api.plainHttp and api.tls exclude each other" })
      .prefault({}),
    admin: z
      .object({
        user: z.string().min(1).default("admin"),
        /** argon2id hash (Bun.password.hash(pw, "argon2id")); absent = local login disabled. */
        passwordHash: z
          .string()
          .refine((h) => h.startsWith("$argon2id$"), "must be an argon2id hash ($argon2id$...), never a plain password")
          .optional(),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        segmentDurationMs: z.number().int().min(1000).max(600_000).default(60_000),
        /** Quota for all segments of this edge; absent = the volume is the limit. */
        maxTotalBytes: z.number().int().positive().optional(),
        /**
         * Free space kept on the volume; absent = 256 MiB or 5 % of the volume, whichever is less.
         * A value not below the volume's size is refused at start (retention would delete every
         * segment as soon as it closed).
         */
        minFreeBytes: z.number().int().min(0).optional(),
        retentionIntervalMs: z.number().int().min(100).default(10_000),
        /**
         * Durability tick: a stream's new fragments are fsynced at most this many ms after they were
         * written, every stream that wrote meanwhile in one round. 0 (default): at once, in the
         * wake-up of the camera reads that completed them. A power cut loses at most
         * `ingest.readBatchMs` + one fragment (≤ 500 ms) + this + one fsync (promise: ≤ 1 s: the read
         * batch is shortened so the two stay within LOSS_SHARE_MS); a tick groups a stream's fragments
         * into one fsync only where the camera's keyframes cut them shorter than the tick (SD/eMMC wear).
         */
        durabilityMs: z
          .number()
          .int()
          .max(500)
          .refine((ms) => ms === 0 || ms >= 10, "must be 0 (at once) or at least 10")
          .default(0),
        /**
         * How a durability tick makes the streams' new fragments durable: "file" = one fsync per
         * stream that wrote; "volume" = one syncfs(2) of the store's volume for all streams (Linux
         * + glibc; elsewhere "file"). "volume" pays a thread start and its polling per tick and
         * syncs everything else dirty on that volume too: side by side it cost more CPU than
         * "file" at 1–8 streams, so it is for many streams on a volume of the recorder's own.
         */
        durabilitySync: z.enum(["volume", "file"]).default("file"),
        /** Longest evidence-lock window accepted by the API (a lock pins its footage against retention). */
        maxLockWindowHours: z.number().positive().max(24 * 366).default(168),
        /** Re-sign each recording stream's custody chain head at least this often (it is also signed at every segment close); 0 = only at close. */
        custodySignEveryMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    ingest: z
      .object({
        /** "gstreamer": one gst-launch child per stream; "native": in-process RTSP → fMP4 (edge/ingest/native). */
        engine: z.enum(["native", "gstreamer"]).default("native"),
        stallTimeoutMs: z.number().int().min(500).default(5000),
        /** From pipeline start to first media; default max(10 s, 2 × stallTimeoutMs). */
        connectTimeoutMs: z.number().int().min(500).optional(),
        backoffInitialMs: z.number().int().min(10).default(500),
        backoffMaxMs: z.number().int().min(100).default(30_000),
        /** A session recording this long resets the backoff. */
        stableMs: z.number().int().min(0).default(10_000),
        latencyMs: z.number().int().min(0).max(5000).default(200),
        /** Delay between starting successive streams (RTSP servers dislike simultaneous joins). */
        staggerMs: z.number().int().min(0).max(10_000).default(300),
        /**
         * Native engine: a streaming camera's socket is read at most once per this many ms (all cameras
         * on one timer; each batch is a wake-up of the recorder); 0 = as data arrives. Adds up to this
         * much to a crash's loss (see storage.durabilityMs) and to the edge's live latency.
         */
        readBatchMs: z.number().int().min(0).max(250).default(250),
      })
      .strict()
      .prefault({}),
    /**
     * Previews ("see before you pull", edge/preview): thumbnails of the sub stream's keyframes
     * (main where a camera has no sub) and a per-second activity index, beside each segment.
     */
    preview: z
      .object({
        enabled: z.boolean().default(true),
        /** One thumbnail per camera this often (the first keyframe of each slot). */
        everySeconds: z.number().int().min(1).max(3600).default(10),
        /** Thumbnail width in pixels (height keeps the picture's aspect). */
        width: z.number().int().min(32).max(640).default(160),
        /** JPEG quality 1–100. */
        quality: z.number().int().min(1).max(100).default(50),
        /**
         * The keyframe decoder process (~75 MB resident) ends after this many seconds without a
         * keyframe to decode and starts again for the next segment (~0.2 s of CPU per start);
         * 0 = it stays once started. See docs/design/preview.md.
         */
        decoderIdleSeconds: z.number().int().min(0).max(3600).default(150),
      })
      .strict()
      .prefault({}),
    /**
     * Federation with central (edge/uplink; docs/ref/federation.md). Active only once the edge is
     * enrolled (`outpost edge enroll --data <dataDir>`).
     */
    federation: z
      .object({
        /**
         * Camera ids central may see; ["*"] = all. Default [] = none: sharing a camera with
         * central is an explicit choice (least privilege). A camera not listed never appears in
         * any message to central.
         */
        share: z.array(z.union([z.literal("*"), id])).default([]),
        /** External MQTT broker (mqtts://host:port) instead of the URL received at enrollment. */
        mqttUrl: z.string().refine((s) => /^mqtts?:\/\//.test(s), "must be an mqtts:// URL").optional(),
        healthIntervalMs: z.number().int().min(1000).default(30_000),
        /** Active uplink type reported to central and matched against the site's link profiles (edge/transfer); the `set-link` command changes it at run time. */
        link: z.string().regex(/^[a-z0-9-]{1,40}$/, "a link type like cellular, wifi, ethernet").default("unknown"),
        /** Bound of unacknowledged messages on disk; beyond it telemetry is dropped (events never). */
        outboxMaxBytes: z.number().int().min(1_048_576).default(64 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** Position (edge/position): gpsd as the source, track thinning, how long the track is kept. */
    position: z
      .object({
        /** gpsd's JSON service (Debian `gpsd`); absent = no position source on this edge. */
        gpsd: z.object({ host: z.string().min(1).default("127.0.0.1"), port: z.number().int().min(1).max(65535).default(2947) }).strict().optional(),
        backoffInitialMs: z.number().int().min(10).default(500),
        backoffMaxMs: z.number().int().min(100).default(30_000),
        /** No report from gpsd for this long = "no source" on the track. */
        staleMs: z.number().int().min(100).default(5000),
        thin: z
          .object({
            /** A fix is dropped only if the kept track passes within this many metres of it. */
            toleranceM: z.number().positive().max(1000).default(10),
            /** At least one point this often, moving or not. */
            maxIntervalMs: z.number().int().min(100).max(3_600_000).default(30_000),
            /** A speed change of this much (m/s) is kept (stops and starts). */
            speedDeltaMps: z.number().positive().default(3),
          })
          .strict()
          .prefault({}),
        retentionDays: z.number().positive().max(3660).default(90),
        /** Send the track and the live position to central (once enrolled). */
        share: z.boolean().default(true),
        /** The live position (for central's map) is sent this often while it changes; the track itself is synced in chunks. */
        reportEveryMs: z.number().int().min(1000).default(10_000),
      })
      .strict()
      .prefault({}),
    /** Vehicle inputs and ignition (edge/vehicle): POST /api/v1/inputs, and optionally MQTT, GPIO lines, cameras' digital inputs. */
    vehicle: z
      .object({
        /** Keep recording this long after ignition off, then stop the cameras cleanly ("parked"). */
        recordAfterOffMs: z.number().int().min(0).max(86_400_000).default(300_000),
        /** The vehicle computer publishes `<topicPrefix><input>` on this broker (edge/vehicle/mqtt-input.ts). */
        mqtt: z
          .object({
            url: z.string().regex(/^mqtts?:\/\/[^\s/]+(:\d+)?\/?$/, "mqtt://host:port or mqtts://host:port"),
            topicPrefix: z.string().min(1).max(200).regex(/^[^+#\u0000]*$/, "no wildcards").default("inputs/"),
            clientId: z.string().min(1).max(100).optional(),
            username: z.string().max(200).optional(),
            password: z.string().max(500).optional(),
            reconnectMs: z.number().int().min(100).max(600_000).default(2000),
          })
          .strict()
          .optional(),
        /** GPIO lines of the recorder's own I/O (Linux GPIO character device, uAPI v2; edge/vehicle/gpio.ts). */
        gpio: z
          .object({
            chip: z.string().regex(/^\/dev\/[A-Za-z0-9_./-]+$/, "a device path such as /dev/gpiochip0"),
            lines: z
              .array(
                z
                  .object({
                    line: z.number().int().min(0).max(65_535),
                    input: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "an input name like ignition, door-front, panic"),
                    activeLow: z.boolean().default(false),
                    bias: z.enum(["pull-up", "pull-down", "disabled", "as-is"]).default("as-is"),
                    debounceMs: z.number().int().min(0).max(1000).default(10),
                  })
                  .strict(),
              )
              .min(1)
              .max(64),
            pollMs: z.number().int().min(5).max(1000).default(50),
          })
          .strict()
          .optional(),
        /** Cameras' ONVIF digital inputs used as vehicle inputs: {camera, token (e.g. DigitalInput_1), input}. */
        onvifInputs: z
          .array(z.object({ camera: z.string().min(1), token: z.string().min(1).max(100), input: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "an input name like door-rear") }).strict())
          .max(64)
          .default([]),
      })
      .strict()
      .prefault({}),
    /** Default retention for every camera (per-camera `retention` overrides). */
    retention: retention.prefault({}),
    /** Prometheus scrape listener (lib/metrics): off unless metrics.port is set. */
    metrics: MetricsConfig,
    cameras: z.array(cameraSchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.cameras.forEach((cam, i) => {
      if (seen.has(cam.id)) ctx.addIssue({ code: "custom", path: ["cameras", i, "id"], message: `duplicate camera id '${cam.id}'` });
      seen.add(cam.id);
    });
    if (c.position.backoffMaxMs < c.position.backoffInitialMs) {
      ctx.addIssue({ code: "custom", path: ["position", "backoffMaxMs"], message: "must be ≥ position.backoffInitialMs" });
    }
    if (c.ingest.backoffMaxMs < c.ingest.backoffInitialMs) {
      ctx.addIssue({ code: "custom", path: ["ingest", "backoffMaxMs"], message: "must be ≥ ingest.backoffInitialMs" });
    }
    const lines = new Set<number>();
    c.vehicle.gpio?.lines.forEach((l, i) => {
      if (lines.has(l.line)) ctx.addIssue({ code: "custom", path: ["vehicle", "gpio", "lines", i, "line"], message: `line ${l.line} is listed twice` });
      lines.add(l.line);
    });
    c.vehicle.onvifInputs.forEach((o, i) => {
      if (!seen.has(o.camera)) ctx.addIssue({ code: "custom", path: ["vehicle", "onvifInputs", i, "camera"], message: `no camera '${o.camera}' in cameras` });
    });
  });

/**
 * What the read batch and the durability tick may add to a crash's loss together: fragments are
 * up to 500 ms, and 100 ms is left for the fsync itself (promise: ≤ 1 s per stream).
 */
export const LOSS_SHARE_MS = 400;

/**
 * The read batch the edge runs with: `ingest.readBatchMs`, shortened where a durability tick
 * would take the loss budget past 1 s (an older config's `storage.durabilityMs` set for SD wear
 * must not stop a recorder after an update: it records, with a warning saying what changed).
 */
export function effectiveReadBatchMs(c: Pick<EdgeConfig, "ingest" | "storage">): { ms: number; lowered: boolean } {
  const ms = Math.min(c.ingest.readBatchMs, Math.max(0, LOSS_SHARE_MS - c.storage.durabilityMs));
  return { ms, lowered: ms < c.ingest.readBatchMs };
}

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;
export type EdgeCameraConfig = z.infer<typeof cameraSchema>;
/** What callers may pass to startEdge: the config before defaults are filled in. */
export type EdgeConfigInput = z.input<typeof edgeConfigSchema>;

/** Loads and validates a config file (plus environment overrides); dataDir and api.tls files resolved against the file. */
export async function loadEdgeConfig(file: string | undefined, opts: Omit<LoadConfigOptions, "file"> = {}): Promise<EdgeConfig> {
  const cfg = await loadConfig(edgeConfigSchema, { ...opts, file });
  if (file && !isAbsolute(cfg.dataDir)) cfg.dataDir = resolve(dirname(resolve(file)), cfg.dataDir);
  if (file && cfg.api.tls) cfg.api.tls = { cert: resolve(dirname(resolve(file)), cfg.api.tls.cert), key: resolve(dirname(resolve(file)), cfg.api.tls.key) };
  return cfg;
}
