/**
 * Camera setup against camsim's ONVIF devices and WS-Discovery responder (real SOAP over
 * HTTP and UDP on loopback).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startCamsim, type Camsim } from "../../camsim/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { CameraError, connectOnvif, discover, parseAddress, resolveCamera } from "./index.ts";
import { describeStream } from "../ingest/probe.ts";

let sim: Camsim;
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  sim = await startCamsim({ cameras: 2, main: { width: 640, height: 360 }, sub: { width: 320, height: 180 }, log });
}, 30_000);
afterAll(async () => {
  await sim?.close();
});

describe("ONVIF", () => {
  test("address + credentials → device info, profiles, main/sub stream URIs that play", async () => {
    const c = sim.camera("cam1");
    const dev = await connectOnvif({ address: c.onvifUrl, user: sim.user, password: sim.password });
    expect(dev.info.serialNumber).toBe("CAMSIM-0001");
    expect(typeof dev.info.firmwareVersion).toBe("string");
    expect(dev.profiles.map((p) => p.token).sort()).toEqual(["main", "sub"]);
    expect(dev.main.uri).toBe(c.rtspMain);
    expect(dev.main.width).toBe(640);
    expect(dev.main.encoding).toBe("H264");
    expect(dev.sub?.uri).toBe(c.rtspSub);
    // The URIs are real: DESCRIBE answers with H.264.
    const d = await describeStream({ url: dev.main.uri!, user: sim.user, password: sim.password });
    expect(d.video).toBe("h264");
  });

  test("resolveCamera by ONVIF host:port", async () => {
    const c = sim.camera("cam2");
    const cam = await resolveCamera({ id: "door", onvif: { address: `127.0.0.1:${c.onvifPort}` }, user: sim.user, password: sim.password });
    expect(cam.source).toBe("onvif");
    expect(cam.streams.main.url).toBe(c.rtspMain);
    expect(cam.streams.sub?.url).toBe(c.rtspSub);
    expect(cam.streams.main.user).toBe(sim.user);
    expect(cam.device?.serialNumber).toBe("CAMSIM-0002");
  });

  test("wrong credentials → CameraError auth-failed", async () => {
    const c = sim.camera("cam1");
    const e = await connectOnvif({ address: c.onvifUrl, user: "admin", password: "nope" }).catch((x) => x);
    expect(e).toBeInstanceOf(CameraError);
    expect(e.code).toBe("auth-failed");
    expect(e.message).toContain("refused the credentials");
  });

  test("unreachable device → CameraError unreachable", async () => {
    const srv = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = srv.port;
    srv.stop(true);
    const e = await connectOnvif({ address: `127.0.0.1:${port}`, user: "a", password: "b", timeoutMs: 2000 }).catch((x) => x);
    expect(e).toBeInstanceOf(CameraError);
    expect(e.code).toBe("unreachable");
  });

  test("bad addresses and specs are refused with a sentence", async () => {
    expect(() => parseAddress("ftp://x")).toThrow(/http/);
    expect(parseAddress("10.0.0.5").url).toBe("http://10.0.0.5/onvif/device_service");
    expect(parseAddress("10.0.0.5:8080").port).toBe(8080);
    await expect(resolveCamera({ id: "bad id!", rtsp: { main: "rtsp://x/y" } })).rejects.toThrow(/camera id/);
    await expect(resolveCamera({ id: "a" })).rejects.toThrow(/neither/);
    await expect(resolveCamera({ id: "a", rtsp: { main: "http://x/y" } })).rejects.toThrow(/rtsp:\/\//);
    const plain = await resolveCamera({ id: "a", rtsp: { main: "rtsp://h/m", sub: "rtsp://h/s" }, user: "u", password: "p" });
    expect(plain.streams.sub?.url).toBe("rtsp://h/s");
  });
});

describe("WS-Discovery", () => {
  test("probe finds every camsim device with its device service URL", async () => {
    const found = await discover({ address: "127.0.0.1", port: sim.discoveryPort!, timeoutMs: 700 });
    expect(found.length).toBe(2);
    const urls = found.flatMap((d) => d.xaddrs).sort();
    expect(urls).toEqual(sim.cameras.map((c) => c.onvifUrl).sort());
    expect(found.map((d) => d.name).sort()).toEqual(["cam1", "cam2"]);
    // A discovered device can be added right away.
    const dev = await connectOnvif({ address: found[0]!.xaddrs[0]!, user: sim.user, password: sim.password });
    expect(dev.main.uri).toMatch(/^rtsp:\/\//);
  });

  test("no responder → empty list, no error", async () => {
    const srv = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = srv.port;
    srv.stop(true);
    expect(await discover({ address: "127.0.0.1", port, timeoutMs: 200 })).toEqual([]);
  });
});
