/**
 * Control-plane integrity against hostile input, end to end: the whole central
 * (startCentralSite: embedded aedes over mTLS, DuckDB mirror) and enrolled site identities
 * whose MQTT clients write messages straight onto the wire — what a buggy or compromised edge
 * can send, bypassing the edge's own outbox. Every message must be stored exactly once or
 * refused with a reason, the ack must cover exactly those, and one site's bad message must
 * never cost another message (of its own site or another's).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import mqtt from "mqtt";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { enroll, mqttClientOptions, type Identity } from "../edge/identity/index.ts";
import { parseUp, topics, type UpType } from "../federation/protocol/index.ts";
import { quiet, until } from "./lib/cp.ts";

setDefaultTimeout(180_000);

/** A lock reason the schema accepts and the test's mirror refuses (the CHECK below): a stand-in for any database failure the schema cannot foresee. */
const DB_REFUSES = "the database refuses this reason";

let root: string;
let site: CentralSite;
let token: string;
let siteA: RawEdge;
let siteB: RawEdge;

/** One site's MQTT session, publishing raw `up` messages under its own outbox id and seq. */
class RawEdge {
  ob = "";
  seq = 0;
  private acked = 0;
  private constructor(
    readonly id: Identity,
    private readonly client: mqtt.MqttClient,
  ) {}

  static async connect(id: Identity): Promise<RawEdge> {
    const client = mqtt.connect(id.mqttUrl, { ...mqttClientOptions(id), reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    const e = new RawEdge(id, client);
    client.on("message", (_t, payload) => {
      const a = JSON.parse(payload.toString()) as { ob: string; upTo: number };
      if (a.ob === e.ob) e.acked = Math.max(e.acked, a.upTo);
    });
    await client.subscribeAsync(topics.ack(id.siteId), { qos: 1 });
    e.newOutbox();
    return e;
  }

  get siteId(): string {
    return this.id.siteId;
  }

  /** A fresh outbox id: seq starts again at 1. */
  newOutbox(): void {
    this.ob = randomBytes(8).toString("hex");
    this.seq = 0;
    this.acked = 0;
  }

  async send(type: string, body: unknown, at: unknown = Date.now()): Promise<{ seq: number; type: string; payload: string }> {
    const seq = ++this.seq;
    const payload = JSON.stringify({ v: 1, ob: this.ob, seq, at, type, body });
    await this.resend(payload);
    return { seq, type, payload };
  }

  resend(payload: string): Promise<unknown> {
    return this.client.publishAsync(topics.up(this.siteId), payload, { qos: 1 });
  }

  /** Central acknowledged everything up to seq (stored or refused). */
  ackedThrough(seq: number, what = "ack"): Promise<true> {
    return until(`${what}: ack through ${seq} (at ${this.acked})`, () => this.acked >= seq || undefined, 30_000, 20);
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

const db = () => site.sites.mirrorDb;
const rows = <T>(sql: string, params: (string | number)[]) => db().query<T>(sql, params);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "outpost-hostile-"));
  const dataDir = join(root, "central");
  await mkdir(dataDir, { recursive: true });
  site = await startCentralSite({ dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } } as never, { log: quiet("central") });
  // The mirror's lock table with one extra CHECK, and a refusal table that cannot record the
  // second one's refusal (its reason quotes the CHECK): stand-ins for failures the schema cannot foresee.
  await db().exec(
    `ALTER TABLE cp_locks ADD CONSTRAINT test_refuses CHECK (reason <> 'the database refuses this reason'), ADD CONSTRAINT test_unstorable CHECK (reason <> 'unstorable');
     ALTER TABLE cp_rejected ADD CONSTRAINT test_unrecordable CHECK (reason NOT LIKE '%unstorable%')`,
  );
  const login = await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) });
  token = ((await login.json()) as { token: string }).token;
  const ids: Identity[] = [];
  for (const name of ["Bus A", "Bus B"]) {
    const t = await site.central.createEnrollmentToken(name);
    ids.push(await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: join(root, name.replace(" ", "-")), log: quiet("enroll") }));
  }
  siteA = await RawEdge.connect(ids[0]!);
  siteB = await RawEdge.connect(ids[1]!);
  // Commands the generated command-results answer.
  for (const id of ["cmd-a", "cmd-b"]) await site.sites.command(siteA.siteId, "ping", {}, 3_600_000, "test", id);
  // A camera, so the timeline route has something to answer for.
  const tree = await siteA.send("tree", { cameras: [{ id: "cam1", name: "Front", enabled: true, streams: [{ kind: "main", status: "recording" }] }] });
  await siteA.ackedThrough(tree.seq);
});

afterAll(async () => {
  await siteA?.close();
  await siteB?.close();
  await site?.close();
  await rm(root, { recursive: true, force: true });
});

// --- generators: every message type, each field sometimes hostile ------------------------

const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.constantFrom("\u0000", "case\u00007", "'; DROP TABLE cp_events; --", "it''s", "\ud800", "\u001b[2J", "\u0085", "x".repeat(2100), "", "Zürich 🚌", "line\nbreak"),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e20, -1, -0, 0.5, 2 ** 53, 2 ** 63, Number.MAX_VALUE, 8.64e15 + 1, -9_999_999_999_999_999_999, null, "12"),
);
const maybe = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) => fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: bad });
const str = <T>(good: fc.Arbitrary<T>) => maybe(good, hostileString);
const num = <T>(good: fc.Arbitrary<T>) => maybe(good, hostileNumber);
const ms = fc.integer({ min: 0, max: 4_000_000_000_000 });
const nat = fc.integer({ min: 0, max: 2 ** 40 });
const cam = str(fc.constantFrom("cam1", "cam2"));
const stream = str(fc.constantFrom("main", "sub"));
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const hostileKey = (...good: string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) });
const data = fc.dictionary(hostileKey("a", "b", "note"), fc.oneof(hostileString, hostileNumber, fc.boolean(), fc.jsonValue({ maxDepth: 2 })), { maxKeys: 3 });

const bodies: Record<UpType, fc.Arbitrary<unknown>> = {
  event: fc.record({ eventId: str(fc.uuid()), cameraId: optional(cam), kind: str(fc.constantFrom("motion", "door")), atMs: num(ms), data: optional(data) }),
  index: fc.record({
    cameraId: cam,
    stream,
    replace: optional(fc.record({ fromMs: num(ms), toMs: num(ms) })),
    segments: fc.array(fc.tuple(num(ms), num(ms), num(nat)), { maxLength: 4 }),
    gaps: fc.array(fc.tuple(num(ms), num(ms), str(fc.constantFrom("stall", "crash", "camera-offline"))), { maxLength: 3 }),
  }),
  locks: fc.record({
    cameraId: cam,
    locks: fc.array(fc.record({ id: str(fc.uuid()), startMs: num(ms), endMs: num(ms), reason: str(fc.string({ maxLength: 30 })), expiresAtMs: optional(num(ms)) }), { maxLength: 3 }),
  }),
  digest: fc.record({
    streams: fc.array(
      fc.record({
        cameraId: cam,
        stream,
        horizonMs: fc.oneof(fc.constant(null), num(fc.integer({ min: 1, max: 1e11 }))),
        segCutoffMs: num(ms),
        gapCutoffMs: num(ms),
        days: fc.array(fc.tuple(num(ms), num(nat), str(fc.stringMatching(/^[0-9a-f]{8}$/))), { maxLength: 2 }),
      }),
      { maxLength: 2 },
    ),
  }),
  tree: fc.record({
    cameras: fc.array(
      fc.record({ id: cam, name: str(fc.string({ maxLength: 20 })), enabled: fc.boolean(), streams: fc.array(fc.record({ kind: stream, status: str(fc.constantFrom("recording", "failed")) }), { maxLength: 2 }) }),
      { maxLength: 3 },
    ),
  }),
  health: fc.record({
    disk: fc.record({ totalBytes: num(nat), freeBytes: num(nat), storeBytes: num(nat) }),
    streams: fc.array(fc.record({ cameraId: cam, stream, state: str(fc.constantFrom("recording")), bitrateKbps: num(nat), fps: num(fc.integer({ min: 0, max: 60 })) }), { maxLength: 2 }),
    link: fc.record({ type: str(fc.constantFrom("cellular", "wifi")), quality: fc.oneof(fc.constant(null), fc.double({ min: 0, max: 1, noNaN: true })) }),
    clock: fc.record({ offsetMs: fc.oneof(fc.constant(null), num(fc.integer())), trusted: fc.boolean() }),
    cert: fc.record({ notAfter: fc.oneof(fc.constant(null), str(fc.constant("2027-01-01T00:00:00Z"))), daysLeft: fc.oneof(fc.constant(null), num(nat)) }),
    software: fc.record({ version: str(fc.constant("1.0.0")) }),
    outbox: fc.record({ pending: num(nat), bytes: num(nat), dropped: num(nat) }),
    config: fc.record({ appliedVersion: fc.oneof(fc.constant(null), num(nat)) }),
  }),
  "config-status": fc.record({ version: num(nat), state: str(fc.constantFrom("applied", "rejected")), reason: optional(str(fc.string({ maxLength: 30 }))) }),
  "command-result": fc.record({ commandId: str(fc.constantFrom("cmd-a", "cmd-b")), status: str(fc.constantFrom("ok", "failed")), result: optional(fc.jsonValue({ maxDepth: 2 })), error: optional(str(fc.string({ maxLength: 30 }))) }),
  telemetry: fc.record({ kind: str(fc.constantFrom("gps", "log", "position")), cameraId: optional(cam), atMs: num(ms), data }),
  track: fc.record({
    points: fc.array(
      fc.oneof(
        fc.tuple(num(ms), num(fc.constantFrom(2, 3)), num(fc.double({ min: -90, max: 90, noNaN: true })), num(fc.double({ min: -180, max: 180, noNaN: true })), fc.oneof(fc.constant(null), num(fc.double({ min: 0, max: 50, noNaN: true }))), fc.constant(null)),
        fc.tuple(num(ms), num(fc.constantFrom(0, 1)), fc.constant(null), fc.constant(null), fc.constant(null), fc.constant(null)),
      ),
      { maxLength: 4 },
    ),
  }),
  dropped: fc.record({ count: num(fc.integer({ min: 1, max: 100 })), byType: fc.dictionary(hostileKey("health", "digest"), num(nat), { maxKeys: 2 }), fromSeq: num(ms), toSeq: num(ms) }),
};
const message = fc.oneof(
  ...(Object.keys(bodies) as UpType[]).map((type) => fc.record({ type: fc.oneof({ weight: 20, arbitrary: fc.constant(type as string) }, { weight: 1, arbitrary: hostileString }), body: bodies[type], hostileAt: fc.option(hostileNumber, { freq: 8 }) })),
);

// --- the oracle: what central must hold for each accepted message --------------------------

type Sent = { seq: number; type: string; payload: string };

let atCounter = 1_700_000_000_000;

async function checkRun(e: RawEdge, sent: Sent[]): Promise<void> {
  const refused = new Map((await rows<{ seq: string; reason: string }>(`SELECT seq, reason FROM cp_rejected WHERE site_id = $1 AND ob = $2`, [e.siteId, e.ob])).map((r) => [Number(r.seq), r.reason]));
  const parsed = sent.map((s) => ({ ...s, p: parseUp(s.payload) }));
  const valid = parsed.filter((s) => s.p.ok).map((s) => ({ seq: s.seq, msg: (s.p as { ok: true; msg: import("../federation/protocol/index.ts").UpMessage }).msg }));
  // Refused exactly when the schema (or the text rule) refuses, always with a reason.
  for (const s of parsed) {
    if (s.p.ok) expect(refused.has(s.seq)).toBe(false);
    else expect(refused.get(s.seq)?.length ?? 0).toBeGreaterThan(0);
  }
  const lastOf = <K>(type: string, key: (m: any) => K) => {
    const m = new Map<K, any>();
    for (const v of valid) if (v.msg.type === type) for (const k of [key(v.msg)].flat() as K[]) m.set(k, v.msg);
    return m;
  };
  let storedRows = 0;
  for (const { seq, msg } of valid) {
    if (msg.type === "event" || msg.type === "dropped") {
      const r = await rows<{ event_id: string }>(`SELECT event_id FROM cp_events WHERE site_id = $1 AND ob = $2 AND seq = $3`, [e.siteId, e.ob, seq]);
      expect(r.map((x) => x.event_id)).toEqual([msg.type === "event" ? msg.body.eventId : `${e.ob}:${seq}`]);
      storedRows++;
    } else if (msg.type === "telemetry") {
      const r = await rows<{ data: string }>(`SELECT data FROM cp_telemetry WHERE site_id = $1 AND ob = $2 AND seq = $3`, [e.siteId, e.ob, seq]);
      expect(r.map((x) => x.data)).toEqual([JSON.stringify(msg.body.data)]);
      storedRows++;
    } else if (msg.type === "health") {
      const r = await rows<{ n: string }>(`SELECT count(*) AS n FROM cp_health WHERE site_id = $1 AND at_ms = $2 AND body = $3`, [e.siteId, msg.at, JSON.stringify(msg.body)]);
      expect(Number(r[0]!.n)).toBe(1);
      storedRows++;
    }
  }
  // Replace-semantics state: the last accepted message per key is what central holds.
  const tree = [...lastOf("tree", () => "tree").values()].pop();
  if (tree) {
    const r = await rows<{ camera_id: string; name: string }>(`SELECT camera_id, name FROM cp_cameras WHERE site_id = $1 ORDER BY camera_id`, [e.siteId]);
    const want = new Map<string, string>();
    for (const c of tree.body.cameras) want.set(c.id, c.name);
    expect(r.map((x) => [x.camera_id, x.name])).toEqual([...want].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  }
  for (const [camera, m] of lastOf("locks", (m) => m.body.cameraId)) {
    const r = await rows<{ lock_id: string; reason: string; start_ms: string }>(`SELECT lock_id, reason, start_ms FROM cp_locks WHERE site_id = $1 AND camera_id = $2 ORDER BY lock_id`, [e.siteId, camera as string]);
    const want = new Map<string, [string, string, string]>();
    for (const l of m.body.locks) want.set(l.id, [l.id, l.reason, String(l.startMs)]);
    expect(r.map((x) => [x.lock_id, x.reason, String(x.start_ms)])).toEqual([...want.values()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  }
  const status = [...lastOf("config-status", () => "s").values()].pop();
  if (status) {
    const r = await rows<{ version: string; state: string; reason: string | null }>(`SELECT version, state, reason FROM cp_applied WHERE site_id = $1`, [e.siteId]);
    expect(r.map((x) => [Number(x.version), x.state, x.reason])).toEqual([[status.body.version, status.body.state, status.body.reason ?? null]]);
  }
  for (const [id, m] of lastOf("command-result", (m) => m.body.commandId)) {
    if (id !== "cmd-a" && id !== "cmd-b") continue; // an id central never issued updates nothing
    const r = await rows<{ status: string; error: string | null }>(`SELECT status, error FROM cp_commands WHERE site_id = $1 AND id = $2`, [e.siteId, id as string]);
    expect(r.map((x) => [x.status, x.error])).toEqual([[m.body.status, m.body.error ?? null]]);
  }
  for (const [k, m] of lastOf("digest", (m) => m.body.streams.map((s: any) => `${s.cameraId}/${s.stream}`))) {
    const [camera, st] = (k as string).split("/");
    const s = [...m.body.streams].reverse().find((x: any) => x.cameraId === camera && x.stream === st);
    const r = await rows<{ h: string | null }>(`SELECT horizon_ms AS h FROM cp_retention WHERE site_id = $1 AND camera_id = $2 AND stream = $3`, [e.siteId, camera!, st!]);
    expect(r.map((x) => (x.h === null ? null : Number(x.h)))).toEqual([s.horizonMs]);
  }
  // Index rows: checked when no accepted digest (which may prune the mirror after it) came in this run.
  if (!valid.some((v) => v.msg.type === "digest")) {
    for (const [k, m] of lastOf("index", (m) => `${m.body.cameraId}/${m.body.stream}`)) {
      const [camera, st] = (k as string).split("/");
      const want = new Map<number, string>();
      for (const [a, b, by] of m.body.segments) want.set(a, `${a}-${b}-${by}`);
      for (const [a, want1] of want) {
        const r = await rows<{ v: string }>(`SELECT start_ms || '-' || end_ms || '-' || bytes AS v FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [e.siteId, camera!, st!, a]);
        expect(r.map((x) => x.v)).toEqual([want1]);
      }
    }
  }
  // Count: every message sent is either stored or refused, none both, none neither.
  expect(valid.length + refused.size).toBe(sent.length);
  expect(storedRows).toBe(valid.filter((v) => ["event", "dropped", "telemetry", "health"].includes(v.msg.type)).length);
}

describe("hostile control-plane messages", () => {
  test("property: every message type with hostile strings and numbers is stored once or refused with a reason; the ack covers exactly those", async () => {
    const stats0 = { ...site.sites.control.stats };
    let sentTotal = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 3 }), async (msgs, resendIdx) => {
        siteA.newOutbox();
        const sent: Sent[] = [];
        for (const m of msgs) sent.push(await siteA.send(m.type, m.body, m.hostileAt ?? atCounter++));
        // Re-sends of already sent messages (a reconnect, an ack timeout) must not be stored twice.
        for (const i of resendIdx) await siteA.resend(sent[i % sent.length]!.payload);
        await siteA.ackedThrough(sent.length, "property run");
        await site.sites.control.idle();
        sentTotal += sent.length;
        await checkRun(siteA, sent);
      }),
      { numRuns: 40 },
    );
    const s = site.sites.control.stats;
    expect(s.applied - stats0.applied + (s.rejected - stats0.rejected)).toBe(sentTotal);
  });

  test("a NUL in one site's evidence-lock reason loses nothing: its other messages and another site's are all stored", async () => {
    siteA.newOutbox();
    siteB.newOutbox();
    const sentA: Sent[] = [];
    const sentB: Sent[] = [];
    for (let i = 0; i < 150; i++) {
      if (i === 40) sentA.push(await siteA.send("locks", { cameraId: "cam1", locks: [{ id: "l-nul", startMs: 1, endMs: 2, reason: "case\u00007" }] }));
      sentA.push(await siteA.send("event", { eventId: `a-${i}`, kind: "motion", atMs: Date.now() }));
      sentB.push(await siteB.send("event", { eventId: `b-${i}`, kind: "motion", atMs: Date.now() }));
    }
    await siteA.ackedThrough(sentA.length, "site A");
    await siteB.ackedThrough(sentB.length, "site B");
    const count = async (e: RawEdge) => Number((await rows<{ n: string }>(`SELECT count(DISTINCT seq) AS n FROM cp_events WHERE site_id = $1 AND ob = $2`, [e.siteId, e.ob]))[0]!.n);
    expect(await count(siteA)).toBe(150);
    expect(await count(siteB)).toBe(150);
    const refused = await rows<{ seq: string; type: string; reason: string }>(`SELECT seq, type, reason FROM cp_rejected WHERE site_id = $1 AND ob = $2`, [siteA.siteId, siteA.ob]);
    expect(refused.map((r) => [Number(r.seq), r.type])).toEqual([[41, "locks"]]);
    expect(refused[0]!.reason).toContain("body.locks.0.reason: contains the control character U+0000");
    await checkRun(siteA, sentA);
    await checkRun(siteB, sentB);
  });

  test("a message the database refuses (past the schema) is refused alone: the rest of its batch, its site's later messages and another site's are stored", async () => {
    siteA.newOutbox();
    siteB.newOutbox();
    const failed0 = site.sites.control.stats.failedBatches;
    const sentA: Sent[] = [];
    const sentB: Sent[] = [];
    for (let i = 0; i < 120; i++) {
      if (i === 30) sentA.push(await siteA.send("locks", { cameraId: "cam1", locks: [{ id: "l-db", startMs: 1, endMs: 2, reason: DB_REFUSES }] }));
      sentA.push(await siteA.send("event", { eventId: `da-${i}`, kind: "motion", atMs: Date.now() }));
      sentB.push(await siteB.send("event", { eventId: `db-${i}`, kind: "motion", atMs: Date.now() }));
    }
    await siteA.ackedThrough(sentA.length, "site A");
    await siteB.ackedThrough(sentB.length, "site B");
    expect(site.sites.control.stats.failedBatches).toBeGreaterThan(failed0);
    const refused = await rows<{ seq: string; type: string; reason: string }>(`SELECT seq, type, reason FROM cp_rejected WHERE site_id = $1 AND ob = $2`, [siteA.siteId, siteA.ob]);
    expect(refused.map((r) => [Number(r.seq), r.type])).toEqual([[31, "locks"]]);
    expect(refused[0]!.reason).toMatch(/^not stored: .*CHECK/i);
    for (const [e, prefix] of [[siteA, "da-"], [siteB, "db-"]] as const) {
      const ev = await rows<{ event_id: string }>(`SELECT event_id FROM cp_events WHERE site_id = $1 AND ob = $2 ORDER BY seq`, [e.siteId, e.ob]);
      expect(ev.map((r) => r.event_id)).toEqual(Array.from({ length: 120 }, (_, i) => `${prefix}${i}`));
    }
    // Re-sending the whole stream (the edge after a reconnect) stores nothing twice and refuses nothing again.
    const dup0 = site.sites.control.stats.duplicates;
    for (const s of sentA) await siteA.resend(s.payload);
    await until("re-sends seen", () => site.sites.control.stats.duplicates - dup0 >= sentA.length || undefined, 30_000, 20);
    expect(Number((await rows<{ n: string }>(`SELECT count(*) AS n FROM cp_events WHERE site_id = $1 AND ob = $2`, [siteA.siteId, siteA.ob]))[0]!.n)).toBe(120);
    expect((await rows(`SELECT seq FROM cp_rejected WHERE site_id = $1 AND ob = $2`, [siteA.siteId, siteA.ob])).length).toBe(1);
  });
});

describe("a message that can be neither stored nor refused", () => {
  test("the ack stops before it and nothing after it is stored (so nothing is acked past a loss) until the edge re-sends; other sites go on", async () => {
    siteA.newOutbox();
    siteB.newOutbox();
    const a1 = await siteA.send("event", { eventId: "u-1", kind: "motion", atMs: 1 });
    const a2 = await siteA.send("locks", { cameraId: "cam1", locks: [{ id: "l-u", startMs: 1, endMs: 2, reason: "unstorable" }] });
    const a3 = await siteA.send("event", { eventId: "u-3", kind: "motion", atMs: 3 });
    const a4 = await siteA.send("event", { eventId: "u-4", kind: "motion", atMs: 4 });
    const b1 = await siteB.send("event", { eventId: "ub-1", kind: "motion", atMs: 1 });
    await siteB.ackedThrough(b1.seq, "site B");
    await siteA.ackedThrough(a1.seq, "site A before the unstorable message");
    await site.sites.control.idle();
    const events = async () => (await rows<{ event_id: string }>(`SELECT event_id FROM cp_events WHERE site_id = $1 AND ob = $2 ORDER BY seq`, [siteA.siteId, siteA.ob])).map((r) => r.event_id);
    expect(await events()).toEqual(["u-1"]);
    expect(Number((await rows<{ last_seq: string }>(`SELECT last_seq FROM cp_seq WHERE site_id = $1 AND ob = $2`, [siteA.siteId, siteA.ob]))[0]!.last_seq)).toBe(1);
    // The edge re-sends from its oldest unacknowledged message (an ack timeout): still nothing past seq 1.
    for (const m of [a2, a3, a4]) await siteA.resend(m.payload);
    await Bun.sleep(300);
    await site.sites.control.idle();
    expect(await events()).toEqual(["u-1"]);
    // The edge re-sends from what is now its oldest message (here: the unstorable one was dropped
    // from its outbox): seq goes back, central takes the stream up again from there.
    await siteA.resend(a3.payload);
    await siteA.resend(a4.payload);
    await siteA.ackedThrough(a4.seq, "site A after the re-send");
    expect(await events()).toEqual(["u-1", "u-3", "u-4"]);
  });
});

describe("hostile input over HTTP", () => {
  const api = (method: string, path: string, body?: unknown) =>
    fetch(site.central.apiUrl + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });

  test("a NUL in an evidence-lock reason is a 400 problem+json naming the field", async () => {
    const res = await api("POST", "/api/v1/evidence-locks", { cameraId: `${siteA.siteId}.cam1`, from: "2026-01-01T00:00:00Z", to: "2026-01-01T01:00:00Z", reason: "case\u00007" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const p = (await res.json()) as { detail: string; errors: { path: string }[] };
    expect(p.detail).toStartWith("reason: contains the control character U+0000");
    expect(p.errors[0]!.path).toBe("reason");
  });

  test("a control character in a path or in a query parameter a route reads by hand is a 400 naming it", async () => {
    const path = await api("GET", `/api/v1/sites/${siteA.siteId}%00/events`);
    expect(path.status).toBe(400);
    expect(((await path.json()) as { detail: string }).detail).toContain("The request path contains the control character U+0000");
    const q = await api("GET", "/api/v1/retrievals?siteId=a%00b");
    expect(q.status).toBe(400);
    expect(q.headers.get("content-type")).toContain("application/problem+json");
    expect(((await q.json()) as { detail: string }).detail).toStartWith("The query parameter 'siteId' contains the control character U+0000");
  });

  test("property: hostile numbers and text in the query of every central GET route with numeric parameters never answer 500", async () => {
    const cam = `${siteA.siteId}.cam1`;
    const routes: [string, string[]][] = [
      [`/api/v1/cameras/${cam}/timeline`, ["from", "to"]],
      [`/api/v1/cameras/${cam}/segments`, ["from", "to"]],
      [`/api/v1/sites/${siteA.siteId}/events`, ["after", "limit"]],
      [`/api/v1/sites/${siteA.siteId}/telemetry?kind=gps`, ["from", "to"]],
      ["/api/v1/events", ["limit", "offset"]],
      ["/api/v1/alarms", ["priority", "limit", "offset"]],
      ["/api/v1/syslog", ["before", "limit"]],
      ["/api/v1/audit", ["before", "limit"]],
    ];
    const value = fc.oneof(
      fc.constantFrom("99999999999999999999", "-9999999999999999999999", "9223372036854775808", "-1", "0", "1e3", "0x10", " 5", "", "NaN", "Infinity", "2026-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "9999-12-31T23:59:59Z", "%00", "1\u0000", "\u0085"),
      fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
      fc.double().map(String),
      fc.string({ unit: "binary", maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: routes.length - 1 }), fc.array(value, { minLength: 1, maxLength: 3 }), async (ri, vals) => {
        const [path, params] = routes[ri]!;
        const q = params.map((p, i) => (vals[i] === undefined ? "" : `${p}=${encodeURIComponent(vals[i]!)}`)).filter(Boolean).join("&");
        const res = await api("GET", `${path}${path.includes("?") ? "&" : "?"}${q}`);
        const text = await res.text();
        if (res.status >= 500) throw new Error(`GET ${path}?${q} answered ${res.status}: ${text}`);
        if (res.status === 400) {
          expect(res.headers.get("content-type")).toContain("application/problem+json");
          const detail = (JSON.parse(text) as { detail: string }).detail;
          // Names the parameter (or the window the two times make).
          expect([...params, "window"].some((p) => detail.includes(p))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
