/**
 * Load generator for the control-plane scale benchmark: N simulated edges in one process, each
 * a real mTLS MQTT client (its own enrolled certificate, client id = site id) that publishes
 * 8 cameras' status (health) every statusMs and one index update per camera every indexMs,
 * with random phase, and reads central's acks. Prints "CONNECTED n" once connected; a stdin
 * line "n <count>" connects more edges, up to count, and prints "CONNECTED <count>" again;
 * "sent" prints "SENT <messages published so far>".
 * An ack asking for a re-send (a new owner node heard a gap after taking the site over) is
 * answered with a hello from the next seq: the simulated outbox keeps nothing unacknowledged.
 * Usage: bun cp-loadgen.ts '{"list":ids.json,"n":2000,"url":"mqtts://…","statusMs":30000,"indexMs":60000}'
 */
import "reflect-metadata";
import mqtt from "mqtt";
import { readFileSync } from "node:fs";
import { loadIdentity, mqttClientOptions } from "../../edge/identity/index.ts";
import { topics } from "../../federation/protocol/index.ts";
import { simHealth } from "./sim-health.ts";

const o = JSON.parse(process.argv[2]!) as { list: string; n: number; url: string; statusMs: number; indexMs: number };
const all = JSON.parse(readFileSync(o.list, "utf8")) as string[];
const clients: mqtt.MqttClient[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
let connected = 0;
/** Messages published so far (health + index). */
let sent = 0;

const health = simHealth;

async function start(dir: string, k: number): Promise<void> {
  const id = (await loadIdentity(dir))!;
  const ob = `lg${k.toString(16).padStart(10, "0")}`;
  let seq = Math.floor(Date.now() / 1000) * 1000; // above any earlier run's seq for this ob
  const c = mqtt.connect(o.url, { ...mqttClientOptions(id), reconnectPeriod: 2000, keepalive: 30 });
  clients.push(c);
  c.on("message", (_t, payload) => {
    let ack: { ob?: string; resend?: boolean } = {};
    try {
      ack = JSON.parse(payload.toString());
    } catch {}
    if (ack.resend && ack.ob === ob) c.publish(topics.hello(id.siteId), JSON.stringify({ v: 1, ob, firstSeq: seq + 1, lastSeq: seq, software: "cp-loadgen" }), { qos: 1 });
  });
  await new Promise<void>((resolve) => {
    c.once("connect", () => resolve());
    c.once("error", () => resolve());
  });
  c.subscribe(topics.ack(id.siteId), { qos: 1 });
  connected++;
  const up = topics.up(id.siteId);
  // As an edge does: central takes the first message after its (re)subscribe only after a hello
  // (or at the watermark + 1), and this outbox starts far above 1.
  c.publish(topics.hello(id.siteId), JSON.stringify({ v: 1, ob, firstSeq: seq + 1, lastSeq: seq, software: "cp-loadgen" }), { qos: 1 });
  const send = (type: string, body: unknown) => (sent++, c.publish(up, JSON.stringify({ v: 1, ob, seq: ++seq, at: Date.now(), type, body }), { qos: 1 }));
  let t = Date.UTC(2026, 0, 1);
  const status = () => send("health", health(k));
  const index = () => {
    for (let cam = 0; cam < 8; cam++) send("index", { cameraId: `cam${cam}`, stream: "main", segments: [[t, t + 60_000, 15_000_000]], gaps: [] });
    t += 60_000;
  };
  setTimeout(() => {
    status();
    timers.push(setInterval(status, o.statusMs));
  }, Math.random() * o.statusMs);
  setTimeout(() => {
    index();
    timers.push(setInterval(index, o.indexMs));
  }, Math.random() * o.indexMs);
}

// Staggered: many TLS handshakes at once would measure connect storms, not steady state.
let started = 0;
async function grow(to: number): Promise<void> {
  to = Math.min(to, all.length);
  for (; started < to; started = Math.min(to, started + 25)) {
    await Promise.all(all.slice(started, Math.min(to, started + 25)).map((d, j) => start(d, started + j)));
  }
  process.stdout.write(`CONNECTED ${connected}\n`);
}
await grow(o.n);
(async () => {
  let buf = "";
  for await (const chunk of Bun.stdin.stream()) {
    buf += new TextDecoder().decode(chunk);
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [cmd, arg] = buf.slice(0, nl).trim().split(" ");
      buf = buf.slice(nl + 1);
      if (cmd === "n") await grow(Number(arg));
      else if (cmd === "sent") process.stdout.write(`SENT ${sent}\n`);
    }
  }
})();
process.on("SIGTERM", () => {
  for (const t of timers) clearInterval(t);
  for (const c of clients) c.end(true);
  process.exit(0);
});
