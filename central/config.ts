/**
 * Central's configuration schema. Every key has a default so `outpost central` starts with an
 * empty file; docs/ref/central-config.md lists them. Listeners bind to loopback by default:
 * exposing central to edges is an explicit choice (set *.host to 0.0.0.0 and *.publicUrl).
 */
import { z } from "zod";
import { OperationsConfig } from "./events/config.ts";
import { ApiTlsFiles } from "../lib/http/https.ts";
import { MetricsConfig } from "../lib/metrics/config.ts";
import { CentralRetentionConfig, CentralStorageConfig } from "./retention.ts";
import { ClusterConfig } from "./cluster/config.ts";

// Every object is strict: a typo (`api: {prot: 9090}`) is an error naming the key, never a silent default.
const listenerKeys = (port: number) => ({
  host: z.string().default("127.0.0.1"),
  /** 0 = any free port (tests). */
  port: z.number().int().min(0).max(65535).default(port),
  /** URL edges are told to use; default https://<first server name>:<bound port>. */
  publicUrl: z.string().url().optional(),
});
const listener = (port: number) => z.strictObject(listenerKeys(port)).prefault({});

export const CentralConfig = z.strictObject({
  dataDir: z.string().default("./data/central"),
  /** Shown in the CA certificate subject. */
  name: z.string().default("Outpost central"),
  api: z
    .strictObject({
      host: z.string().default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(8080),
      sessionTtlHours: z.number().positive().default(12),
      /** A session not used for this long ends before sessionTtlHours (an open live stream counts as use). */
      sessionIdleMinutes: z.number().positive().default(30),
      /** Origins besides the API's own from which browsers may send state-changing requests (a TLS proxy's public URL). */
      allowedOrigins: z.array(z.url()).default([]),
      /**
       * Certificate and key files (PEM) for the user API, from the admin's own PKI. Without them
       * central serves its own server certificate (issued by central's CA, SANs tls.serverNames).
       */
      tls: ApiTlsFiles.optional(),
      /** Serve the user API and web client over plain HTTP (passwords and cookies in clear): an explicit choice, warned about at start. */
      plainHttp: z.boolean().default(false),
    })
    .refine((a) => !(a.plainHttp && a.tls), { message: "api.plainHttp and api.tls exclude each other" })
    .prefault({}),
  enroll: listener(8444),
  federation: listener(8443),
  mqtt: z
    .strictObject({
      ...listenerKeys(8883),
      /**
       * An external broker (Mosquitto, EMQX, …) for central's control plane, mqtts://host:port;
       * absent = the embedded broker. Central connects with its own client certificate from its
       * CA (identity "central", client id central-<cluster node id>). Edges are told
       * mqtt.publicUrl, by default this URL.
       */
      url: z.string().regex(/^mqtts:\/\/[^\s/]+$/, "mqtt.url must be mqtts://host:port (central talks to an external broker only over TLS)").optional(),
    })
    .prefault({}),
  tls: z
    .strictObject({
      /** SANs of central's server certificate: DNS names and IP addresses edges and users' browsers use to reach it. */
      serverNames: z.array(z.string().min(1)).min(1).default(["localhost", "127.0.0.1", "::1"]),
      minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
    })
    .prefault({}),
  pki: z
    .strictObject({
      caLifetimeDays: z.number().int().positive().default(3650),
      serverCertLifetimeDays: z.number().int().positive().default(365),
      siteCertLifetimeDays: z.number().int().positive().default(90),
      expiryWarningDays: z.number().int().nonnegative().default(14),
    })
    .prefault({}),
  enrollment: z.strictObject({ tokenTtlHours: z.number().positive().default(24) }).prefault({}),
  /** How often central re-reads revocations.jsonl and drops expired sessions. */
  revocationPollMs: z.number().int().positive().default(1000),
  /** Live relay (central/live). */
  live: z
    .strictObject({
      /** RTSP out for third-party players (central/live/rtsp): rtsps://host:tlsPort/<site>.<camera>/<main|sub>. */
      rtsp: z
        .strictObject({
          enabled: z.boolean().default(true),
          host: z.string().default("127.0.0.1"),
          /** RTSPS (RTSP over TLS, rtsps://) port, with the user API's certificate; 0 = any free port (tests). */
          tlsPort: z.number().int().min(0).max(65535).default(8322),
          /**
           * Plain RTSP (rtsp://, in clear): "off" (default); "stream-credentials" = only per-user
           * stream credentials; "account-passwords" = account passwords too. Warned about at start.
           */
          plain: z.enum(["off", "stream-credentials", "account-passwords"]).default("off"),
          /** Plain RTSP port, when `plain` is not "off"; 0 = any free port (tests). */
          port: z.number().int().min(0).max(65535).default(8554),
        })
        .prefault({}),
    })
    .prefault({}),
  /** ONVIF bridge (central/onvif): every site as an ONVIF device for other VMSs. Off by default. */
  onvif: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().default("127.0.0.1"),
      /** 0 = any free port (tests). */
      port: z.number().int().min(0).max(65535).default(8090),
      /** WS-Discovery: answer probes on `host` (the interface address) at this UDP port; off by default. */
      discovery: z
        .strictObject({
          enabled: z.boolean().default(false),
          port: z.number().int().min(0).max(65535).default(3702),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Web client settings served to signed-in users (GET /api/v1/fleet/map). */
  web: z
    .strictObject({
      map: z
        .strictObject({
          /**
           * Slippy-map tiles for the fleet map, e.g. https://tiles.example/{z}/{x}/{y}.png (https only: the page's
           * content security policy allows images from https: and central itself). Unset = a plain grid, no tiles.
           */
          tileUrl: z
            .string()
            .regex(/^https:\/\/[^\s]+$/, "must be an https:// URL")
            .refine((u) => ["{z}", "{x}", "{y}"].every((k) => u.includes(k)), "must contain {z}, {x} and {y}")
            .optional(),
          /** Attribution shown on the map (the tile provider's licence usually requires one). */
          attribution: z.string().max(300).default(""),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Users, events, rules, alarms, audit and system log (central/events/config.ts). */
  operations: OperationsConfig,
  /** Prometheus scrape listener (lib/metrics): off unless metrics.port is set. */
  metrics: MetricsConfig,
  /** Central's database (central/db): a PostgreSQL server, else embedded PGlite under DATA/pg. */
  database: z
    .strictObject({
      /** postgres://user:password@host:port/database (Unix socket: ?host=/run/postgresql); absent = embedded. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, "database.url must be a postgres:// or postgresql:// URL")
        .refine((u) => URL.canParse(u), "database.url is not a valid URL")
        .optional(),
      /**
       * Where the embedded database (no url) runs: `inline` in central's process, or `process`
       * in a child process of its own, so a long statement does not hold up HTTP, live video and MQTT.
       */
      embedded: z.enum(["inline", "process"]).default("inline"),
    })
    .prefault({}),
  /** This node in a cluster of central nodes sharing database.url (central/cluster); a single node needs none of it. */
  cluster: ClusterConfig,
  /** Central's own store: quota, free-space floor, how often retention runs (central/retention.ts). */
  storage: CentralStorageConfig,
  /** Age and bytes per camera of what central holds (same keys as the edge's), per-site overrides. */
  retention: CentralRetentionConfig,
});
export type CentralConfig = z.infer<typeof CentralConfig>;
export type CentralConfigInput = z.input<typeof CentralConfig>;

export function parseCentralConfig(input: CentralConfigInput): CentralConfig {
  return CentralConfig.parse(input);
}
