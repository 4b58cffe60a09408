/**
 * MQTT vehicle inputs against a real mosquitto on a free loopback port: payload forms, refused
 * messages, original times, and changes published while the edge was away delivered when it
 * is back (QoS 1, persistent session).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import mqtt from "mqtt";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "../../camsim/gps.ts";
import { systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir, until } from "../../tests/helpers.ts";
import { MqttInput, parseInputMessage } from "./mqtt-input.ts";

let broker: ReturnType<typeof Bun.spawn> | undefined;
let port: number;

beforeAll(async () => {
  const dir = await tempDir("vehicle-mqtt");
  port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  broker = Bun.spawn(["/usr/sbin/mosquitto", "-c", conf], { stdout: "ignore", stderr: "ignore" });
  await until("mosquitto up", async () => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1000 }).catch(() => null);
    await c?.endAsync();
    return c !== null;
  }, 10_000);
});

afterAll(async () => {
  broker?.kill("SIGTERM");
  await broker?.exited;
  await removeTempDirs();
});

test("payloads: bare true/false/1/0/on/off, JSON with state and optional at; anything else is refused with the reason", () => {
  const now = Date.UTC(2026, 11, 4, 10, 0, 0);
  expect(parseInputMessage("inputs/", "inputs/ignition", "ON", now)).toEqual({ input: "ignition", state: true, atMs: now });
  expect(parseInputMessage("inputs/", "inputs/door-front", "0", now)).toEqual({ input: "door-front", state: false, atMs: now });
  expect(parseInputMessage("inputs/", "inputs/panic", '{"state":true,"at":"2026-12-04T09:59:58.250Z"}', now)).toEqual({ input: "panic", state: true, atMs: now - 1750 });
  expect(parseInputMessage("inputs/", "inputs/Panic!", "1", now)).toMatchObject({ error: expect.stringContaining("input name") });
  expect(parseInputMessage("inputs/", "inputs/panic", "maybe", now)).toMatchObject({ error: expect.stringContaining("neither") });
  expect(parseInputMessage("inputs/", "inputs/panic", '{"state":"yes"}', now)).toMatchObject({ error: expect.stringContaining('"state"') });
  expect(parseInputMessage("inputs/", "inputs/panic", '{"state":true,"at":"yesterday"}', now)).toMatchObject({ error: expect.stringContaining('"at"') });
});

test("the vehicle computer's messages become inputs with their original time; a bad one is refused and counted; changes published while the edge was away arrive when it is back", async () => {
  const sink = new MemorySink();
  const log = new Logger({ component: "test", sink, level: "debug" });
  const got: [string, boolean, number, string][] = [];
  const cfg = { url: `mqtt://127.0.0.1:${port}`, topicPrefix: "bus/inputs/", clientId: `edge-${port}`, reconnectMs: 200 };
  const deps = { clock: systemClock, log, input: async (n: string, s: boolean, at: number, src: string) => void got.push([n, s, at, src]) };
  let edge = new MqttInput(cfg, deps);
  edge.start();
  await until("edge subscribed", () => sink.records.some((r) => r.msg.includes("connected to the MQTT broker")), 10_000);
  await Bun.sleep(200); // the SUBACK
  const pc = await mqtt.connectAsync(cfg.url, { clientId: `vc-${port}` });
  await pc.publishAsync("bus/inputs/door-front", JSON.stringify({ state: true, at: "2026-12-04T09:00:00.000Z" }), { qos: 1 });
  await pc.publishAsync("bus/inputs/door-front", "no idea", { qos: 1 });
  await until("door input", () => got.length >= 1 && edge.stats.rejected === 1, 10_000);
  expect(got[0]).toEqual(["door-front", true, Date.parse("2026-12-04T09:00:00.000Z"), "mqtt"]);
  expect(sink.records.some((r) => r.msg === "vehicle input message refused")).toBe(true);

  // The edge goes away; the vehicle computer goes on publishing; the edge comes back with the same session.
  await edge.stop();
  await pc.publishAsync("bus/inputs/ignition", JSON.stringify({ state: false, at: "2026-12-04T09:05:00.000Z" }), { qos: 1 });
  edge = new MqttInput(cfg, deps);
  edge.start();
  await until("the change made while away", () => got.some((g) => g[0] === "ignition"), 10_000);
  expect(got.find((g) => g[0] === "ignition")).toEqual(["ignition", false, Date.parse("2026-12-04T09:05:00.000Z"), "mqtt"]);
  await pc.endAsync();
  await edge.stop();
});
