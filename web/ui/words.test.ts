import { expect, test } from "bun:test";
import type { Camera, Site } from "../model.ts";
import { cameraName, cameraWithSite, errorSentence, eventWords, gapSentence, siteName } from "./words.ts";
import { nextPlay, retrievalWords } from "./playback-flow.ts";

const sites: Site[] = [{ id: "bus-102-728714", name: "bus-102", state: "active", online: true, lastSeenAt: null }];
const cameras: Camera[] = [{ id: "bus-102-728714.cam1", name: "Front door", siteId: "bus-102-728714", online: true, streams: [] }];

test("camera and site names instead of ids", () => {
  expect(cameraName(cameras, sites, "bus-102-728714.cam1")).toBe("Front door");
  // an alarm carries the site and the edge's camera id apart
  expect(cameraName(cameras, sites, "cam1", "bus-102-728714")).toBe("Front door");
  // not in the list: the site's name, never its id
  expect(cameraName(cameras, sites, "bus-102-728714.cam9")).toBe("camera cam9 of bus-102");
  expect(cameraName(cameras, sites, "gone-1.cam2")).toBe("camera cam2 of an unknown site");
  expect(cameraWithSite(cameras, sites, "bus-102-728714.cam1")).toBe("Front door (bus-102)");
  expect(siteName(sites, "bus-102-728714")).toBe("bus-102");
  expect(siteName(sites, null)).toBe("—");
});

test("gap reasons and event kinds as words", () => {
  expect(gapSentence("camera-offline")).toBe("The camera could not be reached.");
  expect(gapSentence("stall: no data for 5 s")).toBe("The camera was connected but sent no picture. (no data for 5 s)");
  expect(gapSentence("something-new")).toBe("Nothing was recorded.");
  expect(eventWords("camera-offline")).toBe("Camera offline");
  expect(eventWords("outpost.site-online")).toBe("Site online");
});

test("errors without status codes or endpoints", () => {
  expect(errorSentence({ status: 403, message: "403 Forbidden", missing: false })).toBe("You do not have the right to do this.");
  expect(errorSentence({ status: 404, message: "404 Not Found", missing: true })).toBe("This server does not offer this.");
  expect(errorSentence({ status: 500, message: "500 Internal Server Error", missing: false })).toMatch(/^The server failed/);
  expect(errorSentence({ status: 400, message: "from must be before to.", missing: false })).toBe("from must be before to.");
  expect(errorSentence(new Error("plain"))).toBe("plain");
});

test("playback continues inside a recording, else after the gap with its reason, else stops", () => {
  const tl = {
    ranges: [
      { startMs: 0, endMs: 10_000, held: "both" as const },
      { startMs: 10_000, endMs: 20_000, held: "edge" as const },
      { startMs: 30_000, endMs: 40_000, held: "central" as const },
    ],
    gaps: [{ startMs: 20_000, endMs: 30_000, reason: "camera-offline" }],
  };
  expect(nextPlay(tl, 5000)).toEqual({ atMs: 5000, skipped: null });
  expect(nextPlay(tl, 10_000)).toEqual({ atMs: 10_000, skipped: null });
  expect(nextPlay(tl, 20_000)).toEqual({ atMs: 30_000, skipped: { ms: 10_000, why: "The camera could not be reached." } });
  expect(nextPlay(tl, 40_000)).toBeNull();
  // the end of a window a little short of the recording's end (< 0.5 s) is the end of it
  expect(nextPlay(tl, 39_800)).toBeNull();
});

test("a retrieval at 100 % is never 'queued'", () => {
  expect(retrievalWords({ state: "queued", progress: 100 })).not.toContain("queued");
  expect(retrievalWords({ state: "running", progress: 100 })).toContain("at central");
  expect(retrievalWords({ state: "queued", progress: 0 })).toBe("waiting to start");
  expect(retrievalWords({ state: "done", progress: 100 })).toBe("done");
});
