/** Rules and time profiles as data: the zod schemas that validate the API, the config and the store. */
import { z } from "zod";
import { TimeZone, WeeklyWindow } from "../../lib/schedule/index.ts";
import { TOPIC_ROOT } from "../../federation/identity.ts";
import { RetrievalPriority } from "../rights/index.ts";

const Id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._-]+$/, "use letters, digits and . _ - only");

export const TimeProfile = z
  .object({
    name: Id,
    /** IANA zone the windows are read in (e.g. Europe/Oslo). */
    timezone: TimeZone.default("UTC"),
    /** Weekly windows (lib/schedule): to before from runs past midnight; from = to is the whole day; days absent = every day. */
    windows: z.array(WeeklyWindow).min(1),
  })
  .describe("when a rule applies, evaluated at the event's original time");
export type TimeProfile = z.infer<typeof TimeProfile>;

const Seconds = z.number().int().min(0).max(3600);

export const Action = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("alarm"),
    /** 1 = most urgent. */
    priority: z.number().int().min(1).max(5).default(3),
    title: z.string().max(200).optional(),
    instructions: z.string().max(5000).default(""),
  }),
  z.object({
    kind: z.literal("retrieve"),
    preSeconds: Seconds.default(30),
    postSeconds: Seconds.default(30),
    priority: RetrievalPriority.default("event"),
    /**
     * The camera to retrieve, by its id or name on the event's site (e.g. "front"): for site-level
     * events such as geofence.enter, which name no camera. Absent = the event's own camera.
     */
    camera: z.string().min(1).max(200).optional(),
  }),
  z.object({ kind: z.literal("live-main"), seconds: z.number().int().min(1).max(86_400).default(60) }),
  z.object({ kind: z.literal("evidence-lock"), preSeconds: Seconds.default(60), postSeconds: Seconds.default(60), reason: z.string().max(500).optional() }),
  z.object({
    kind: z.literal("webhook"),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), z.string()).default({}),
    retries: z.number().int().min(0).max(10).default(3),
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
  }),
  z.object({
    kind: z.literal("mqtt"),
    topic: z
      .string()
      .min(1)
      .max(500)
      .refine((t) => !/[+#\u0000]/.test(t), "a topic to publish to has no wildcards")
      .refine((t) => !t.startsWith(TOPIC_ROOT), `topics under ${TOPIC_ROOT} are reserved for the federation`),
    qos: z.union([z.literal(0), z.literal(1)]).default(0),
    retain: z.boolean().default(false),
  }),
]);
export type Action = z.infer<typeof Action>;

export const Match = z.object({
  /** Exact types, or prefixes ending in * ("camera.*"); "*" = any. */
  types: z.array(z.string().min(1).max(100)).min(1),
  sites: z.array(z.string()).optional(),
  cameras: z.array(z.string()).optional(),
  /** Equality on fields of the event's data (e.g. {"input": 2, "state": "on"}). */
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** Only events that arrived late (true), only on time (false), or both (absent). */
  late: z.boolean().optional(),
});

export const Rule = z.object({
  id: Id,
  name: z.string().min(1).max(200),
  enabled: z.boolean().default(true),
  match: Match,
  /** Name of a time profile; absent = always. */
  timeProfile: Id.optional(),
  actions: z.array(Action).min(1).max(20),
});
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;
