/**
 * Web client at central, retrieval end to end: a real `outpost demo` (central + 1 edge +
 * camsim, in-process, port 0, 4 s segments) driven by Debian Chromium through playwright-core.
 * Playback of an edge camera at central: select a range that is only at the edge, "Retrieve
 * this range" at request priority, watch the Retrievals panel reach done / 100 %, then play
 * the range back from central. Own demo and temp dir; shares nothing mutable with web.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { until } from "./helpers.ts";
import { jsonClient, screenshots, selectRange, signIn, startWebDemo, type WebDemo } from "./browser.ts";

const shot = screenshots("web");

let web: WebDemo;
let central: string;
let token: string;

const json = jsonClient(() => web.ca);

beforeAll(async () => {
  web = await startWebDemo({ name: "webret", edges: 1, camerasPerEdge: 1, segmentDurationMs: 4000 });
  ({ central, token } = web);
}, 120_000);

afterAll(() => web?.stop());

test("central playback: retrieve an edge-only range (priority request), progress reaches 100 %, then it plays from central", async () => {
  const cam = `${web.siteId}.cam1`;
  // ≥ 14 s of committed footage that central's mirror lists as held at the edge only
  const edgeOnly = await until(
    "14 s of edge-only recording in central's timeline",
    async () => {
      const now = Date.now();
      const t = await web.timeline(cam, now - 600_000, now + 60_000).catch(() => null);
      return t?.ranges.map((r) => ({ s: Date.parse(r.start), e: Date.parse(r.end), held: r.held })).find((r) => r.held === "edge" && r.e - r.s >= 14_000);
    },
    90_000,
    500,
  );

  const page = await web.browser.newPage({ viewport: { width: 1440, height: 900 } });
  await signIn(page, central + "/live", "admin", web.demo.info.central.password);
  await page.goto(`${central}/playback?camera=${encodeURIComponent(cam)}`);
  const tl = page.locator(".timeline");
  await until("timeline ranges", async () => Number(await tl.getAttribute("data-ranges")) > 0, 15_000, 200);
  await page.getByRole("button", { name: "1 min" }).click();
  await until("ranges in the zoomed view", async () => Number(await tl.getAttribute("data-last")) > 0, 10_000, 200);
  const box = (await page.locator(".timeline canvas").boundingBox())!;
  const from = Number(await tl.getAttribute("data-from"));
  const to = Number(await tl.getAttribute("data-to"));
  const xOf = (t: number) => box.x + ((t - from) / (to - from)) * box.width;
  // a 6 s selection inside the edge-only range and inside the view
  const a = Math.max(edgeOnly.s + 1000, from + 2000);
  const b = a + 6000;
  expect(b).toBeLessThan(Math.min(edgeOnly.e, to));
  await selectRange(page, box, xOf(a), xOf(b));
  await page.getByLabel("Priority").selectOption("request");
  const retrieve = page.getByRole("button", { name: "Retrieve this range" });
  await until("the retrievals endpoint to be seen by the client", async () => retrieve.isEnabled(), 10_000, 200);
  await retrieve.click();
  await page.getByText("Retrieval queued.").waitFor();

  // the Retrievals panel (refreshed every 5 s) shows it reaching done / 100 %
  const row = page.locator(".panel table tbody tr").first();
  await row.waitFor({ timeout: 10_000 });
  expect(await row.locator("td").nth(1).textContent()).toBe("request");
  await until("the retrieval row to show done and 100 %", async () => (await row.locator("td").nth(2).textContent()) === "done" && (await row.locator("td").nth(3).textContent())?.includes("100 %"), 60_000, 250);
  const [job] = (await json<{ retrievals: { state: string; priority: string; progress: number; from: string; to: string }[] }>(`${central}/api/v1/retrievals?cameraId=${encodeURIComponent(cam)}`, { token })).retrievals;
  expect(job?.state).toBe("done");
  expect(job?.priority).toBe("request");
  expect(job?.progress).toBe(100);
  // the selection is now held at central too
  const held = await web.timeline(cam, Date.parse(job!.from), Date.parse(job!.to));
  for (const r of held.ranges) expect(["both", "central"]).toContain(r.held);

  // play it back from central: click inside the retrieved range
  await until("the timeline to show the retrieved range", async () => {
    const t = await web.timeline(cam, a, b);
    return t.ranges.every((r) => r.held === "both");
  }, 10_000, 200);
  await Bun.sleep(5500); // one more 5 s refresh of the page's timeline, so the click lands on the "both" range
  // Measure the timeline again: panels above it (the retrieval's cost line, the position row) may
  // have moved it since the selection was drawn.
  const box2 = (await page.locator(".timeline canvas").boundingBox())!;
  const from2 = Number(await tl.getAttribute("data-from"));
  const to2 = Number(await tl.getAttribute("data-to"));
  await page.mouse.click(box2.x + ((a + 1500 - from2) / (to2 - from2)) * box2.width, box2.y + box2.height / 2);
  const video = page.getByTestId("playback-video");
  await video.waitFor();
  const cur = () => video.evaluate((v) => (v as HTMLVideoElement).currentTime);
  await until("playback from central to advance", async () => (await cur()) > 1, 20_000, 200);
  const src = await video.getAttribute("src");
  expect(src).toContain(`/api/v1/cameras/${encodeURIComponent(cam)}/video?`);
  // the played window is at central already: no new retrieval was queued for it
  const jobs = (await json<{ retrievals: unknown[] }>(`${central}/api/v1/retrievals?cameraId=${encodeURIComponent(cam)}`, { token })).retrievals;
  expect(jobs.length).toBe(1);
  await shot(page, "13-central-retrieval");
  await page.close();
}, 180_000);
