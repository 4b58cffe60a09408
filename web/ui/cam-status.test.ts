import { expect, test } from "bun:test";
import { camStatus } from "./cam-status.ts";

const cam = (online: boolean, ...streams: [string, string?][]) => ({ online, streams: streams.map(([status, reason], i) => ({ kind: (i ? "sub" : "main") as "main" | "sub", status, ...(reason ? { reason } : {}) })) });

test("a camera the recorder cannot reach is red with its reason, not amber 'online' (seen in a walk)", () => {
  expect(camStatus(cam(true, ["backoff", "camera-offline"], ["backoff", "camera-offline"]))).toEqual({ tone: "bad", label: "main: backoff (camera-offline), sub: backoff (camera-offline)" });
  expect(camStatus(cam(true, ["failed", "auth-failed"]))).toEqual({ tone: "bad", label: "main: failed (auth-failed)" });
});

test("recording is green; one stream down shows in the words; trying states are amber; an offline site is dim or red", () => {
  expect(camStatus(cam(true, ["recording"], ["recording"]))).toEqual({ tone: "ok", label: "main: recording, sub: recording" });
  expect(camStatus(cam(true, ["recording", "ignored"], ["backoff", "camera-offline"]))).toEqual({ tone: "ok", label: "main: recording, sub: backoff (camera-offline)" });
  expect(camStatus(cam(true, ["connecting"], ["backoff", "x"])).tone).toBe("warn");
  expect(camStatus(cam(true, ["stalled", "stall"])).tone).toBe("warn");
  expect(camStatus(cam(false))).toEqual({ tone: "dim", label: "offline" });
  expect(camStatus(cam(true))).toEqual({ tone: "warn", label: "online" });
  expect(camStatus(cam(false, ["stopped"]))).toEqual({ tone: "bad", label: "main: stopped" });
});
