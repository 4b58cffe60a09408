/**
 * Admin panels of the web client end to end (issue 14): a real `outpost demo` (central + one
 * edge + camsim, port 0) driven by Chromium. Each panel is exercised with real data: an API key
 * created in the browser posts an event, a rule written with the form raises an alarm from it, a
 * role saved with the form is read back, a retrieval's bytes appear in the per-day chart.
 * Screenshots go to test-artifacts/web-admin/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { until } from "./helpers.ts";
import { screenshots, signIn, startWebDemo, type WebDemo } from "./browser.ts";


let web: WebDemo;
let page: Page;
let central: string;
let siteId: string;
let token: string;

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }): Promise<Response> {
  return fetch(url, { method, tls: { ca: web.ca }, headers: { "content-type": "application/json", ...headers }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}
async function json<T>(method: string, url: string, body?: unknown): Promise<T> {
  const r = await call(method, url, body);
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}
const shotOf = screenshots("web-admin", { fullPage: true });
const shot = (name: string) => shotOf(page, name);
const open = async (section: string) => {
  // a dialog left open by a failed test must not block the next one
  if (await page.getByRole("dialog").count()) await page.keyboard.press("Escape");
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: section, exact: true }).click();
};

beforeAll(async () => {
  web = await startWebDemo({ name: "web-admin", edges: 1, camerasPerEdge: 2, segmentDurationMs: 2000 });
  ({ central, siteId, token } = web);
  page = await web.browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await signIn(page, central + "/admin/sites", "admin", web.demo.info.central.password, { signedIn: page.getByRole("navigation", { name: "Admin" }) });
}, 300_000);

afterAll(() => web?.stop());

describe("admin panels", () => {
  let key = "";

  test("API keys: created in the browser (shown once), it posts an event; the event list filters it; revoked, it is refused", async () => {
    await open("API keys");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByRole("status").filter({ hasText: "Give the key a name" }).or(page.getByRole("alert").filter({ hasText: "Give the key a name" })).waitFor();
    await page.getByLabel("Key name").fill("door controller");
    await page.getByLabel("Limited to site").selectOption(siteId);
    await page.getByRole("button", { name: "Create key" }).click();
    key = (await page.getByLabel("New API key value").innerText()).trim();
    expect(key.length).toBeGreaterThan(20);
    await page.locator('tr[data-key="door controller"]').waitFor();
    await shot("01-api-keys");
    const posted = await call("POST", central + "/api/v1/events", { type: "door.forced", siteId, cameraId: `${siteId}.cam1`, data: { door: 3 } }, { "x-api-key": key });
    expect(posted.status).toBe(202);

    await open("Events");
    await page.getByLabel("Type").fill("door.*");
    await page.getByRole("button", { name: "Filter" }).click();
    const row = page.locator('tr[data-event="door.forced"]');
    await row.waitFor();
    expect(await row.innerText()).toContain("door controller");
    expect(await row.innerText()).toContain('"door":3');
    // a filter that excludes it
    await page.getByLabel("Source").selectOption("edge");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No events match.").waitFor();
    await page.getByLabel("Source").selectOption("external");
    await page.getByRole("button", { name: "Filter" }).click();
    await row.waitFor();
    await shot("02-events");
  }, 60_000);

  test("Rules: the form explains what is missing in words, saves a rule that fires, and the Advanced JSON view edits the same rule", async () => {
    await open("Rules");
    await page.getByRole("button", { name: "New rule…" }).click();
    const dlg = page.getByRole("dialog");
    await dlg.getByLabel("Rule id").fill("bad id!");
    await dlg.getByLabel("Name").fill("");
    await dlg.getByLabel(/Event types/).fill("");
    await dlg.getByRole("button", { name: "Save rule" }).click();
    const alert = dlg.getByRole("alert");
    await alert.waitFor();
    const words = await alert.innerText();
    expect(words).toContain("The rule id is 1 to 100 letters");
    expect(words).toContain("Give the rule a name");
    expect(words).toContain("Name at least one event type");
    await shot("03-rule-form-errors");
    await dlg.getByLabel("Rule id").fill("door-alarm");
    await dlg.getByLabel("Name").fill("Door forced");
    await dlg.getByLabel(/Event types/).fill("door.forced");
    await dlg.getByLabel("At sites").selectOption([siteId]);
    await dlg.getByLabel(/data has/).fill("door=3");
    const a1 = dlg.getByRole("group", { name: "Action 1" });
    await a1.getByLabel("Action").selectOption("alarm");
    await a1.getByLabel(/Priority/).fill("9");
    await a1.getByLabel("Alarm title").fill("Door 3 forced open");
    await dlg.getByRole("button", { name: "Save rule" }).click();
    expect(await dlg.getByRole("alert").innerText()).toContain("the priority is a whole number from 1");
    await a1.getByLabel(/Priority/).fill("2");
    await shot("04-rule-form");
    await dlg.getByRole("button", { name: "Save rule" }).click();
    await dlg.waitFor({ state: "detached" });
    const saved = await json<{ name: string; match: { types: string[]; sites: string[]; data: Record<string, unknown> }; actions: { kind: string; priority: number; title: string }[] }>("GET", central + "/api/v1/rules/door-alarm");
    expect(saved.match).toMatchObject({ types: ["door.forced"], sites: [siteId], data: { door: 3 } });
    expect(saved.actions[0]).toMatchObject({ kind: "alarm", priority: 2, title: "Door 3 forced open" });

    // the rule fires: an event through the API key raises its alarm
    expect((await call("POST", central + "/api/v1/events", { type: "door.forced", siteId, cameraId: `${siteId}.cam1`, data: { door: 3 } }, { "x-api-key": key })).status).toBe(202);
    await until("the rule's alarm", async () => (await json<{ alarms: { title: string }[] }>("GET", central + "/api/v1/alarms")).alarms.find((a) => a.title === "Door 3 forced open"), 10_000, 200);

    // reload: the form shows what was saved; the JSON view edits the same body
    await page.reload();
    await page.locator("tr", { hasText: "door-alarm" }).getByRole("button", { name: "Edit" }).click();
    expect(await dlg.getByLabel("Name").inputValue()).toBe("Door forced");
    expect(await dlg.getByLabel(/data has/).inputValue()).toBe("door=3");
    await dlg.getByRole("tab", { name: "Advanced (JSON)" }).click();
    const text = await dlg.getByLabel("JSON").inputValue();
    expect(JSON.parse(text)).toMatchObject({ name: "Door forced", match: { types: ["door.forced"] } });
    await dlg.getByLabel("JSON").fill(text.replace("Door forced", "Door forced (night)"));
    await shot("05-rule-json");
    await dlg.getByRole("tab", { name: "Form" }).click();
    expect(await dlg.getByLabel("Name").inputValue()).toBe("Door forced (night)");
    await dlg.getByRole("tab", { name: "Advanced (JSON)" }).click();
    // the server's schema answers for the JSON path too
    await dlg.getByLabel("JSON").fill(JSON.stringify({ name: "x", match: { types: [] }, actions: [] }));
    await dlg.getByRole("button", { name: "Save rule" }).click();
    expect(await dlg.getByRole("alert").innerText()).toContain("The server refused the rule");
    await dlg.getByLabel("JSON").fill(text.replace("Door forced", "Door forced (night)"));
    await dlg.getByRole("button", { name: "Save rule" }).click();
    await dlg.waitFor({ state: "detached" });
    expect((await json<{ name: string }>("GET", central + "/api/v1/rules/door-alarm")).name).toBe("Door forced (night)");
  }, 60_000);

  test("Roles: a role built with the form (site scope, rights, retrieval cap) is saved and shown", async () => {
    await open("Users & roles");
    await page.getByRole("button", { name: "New role…" }).click();
    const dlg = page.getByRole("dialog");
    await dlg.getByLabel("Role name").fill("depot-operator");
    const g = dlg.getByRole("group", { name: "Grant 1" });
    await g.getByLabel("Applies to").selectOption("site");
    await dlg.getByRole("button", { name: "Save role" }).click();
    expect(await dlg.getByRole("alert").innerText()).toContain("Grant 1: choose the site it applies to.");
    await g.getByLabel("Site", { exact: true }).selectOption(siteId);
    await g.getByLabel("retrieve footage").check();
    await g.getByLabel("Highest retrieval priority").selectOption("event");
    await shot("06-role-form");
    await dlg.getByRole("button", { name: "Save role" }).click();
    await dlg.waitFor({ state: "detached" });
    const roles = await json<{ roles: { name: string; grants: { rights: string[]; scope: string; maxPriority?: string }[] }[] }>("GET", central + "/api/v1/roles");
    expect(roles.roles.find((r) => r.name === "depot-operator")?.grants).toEqual([{ rights: ["view-live", "playback", "retrieve"], scope: `site:${siteId}`, maxPriority: "event" }]);
    await page.getByRole("table", { name: "Roles" }).locator("tr", { hasText: "depot-operator" }).waitFor();
  }, 60_000);

  test("Audit log: the key and rule changes are there, filtered by action; the hash chain verifies", async () => {
    await open("Audit log");
    await page.getByLabel("Action").selectOption("config");
    await page.getByRole("button", { name: "Filter" }).click();
    const table = page.getByRole("table", { name: "Audit records" });
    await table.locator("tr", { hasText: "api-key.create" }).waitFor();
    await table.locator("tr", { hasText: "rule" }).first().waitFor();
    // the filtered page has only config records (the unfiltered one had logins)
    await table.locator('tr[data-action="login"]').first().waitFor({ state: "detached" });
    expect(await table.locator("tbody tr:not([data-action=config])").count()).toBe(0);
    await page.getByRole("button", { name: "Verify hash chain" }).click();
    await page.getByText("The audit log is intact").waitFor();
    await shot("07-audit");
  }, 60_000);

  test("Site health shows the edge's last report; link budget charts today's bytes after a retrieval", async () => {
    // polls tolerate a request a loaded machine times out (Bun.serve's 10 s idle limit)
    await until("a health report at central", async () => (await json<{ health?: { latest: unknown } }>("GET", `${central}/api/v1/sites/${siteId}`).catch(() => null))?.health?.latest, 60_000, 250);
    // issue 14: the screen asks once for the whole fleet (answered from central's memory), not once per site
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => void asked.push(new URL(r.url()).pathname);
    page.on("request", onRequest);
    await open("Health");
    const row = page.locator(`tr[data-site="bus-101"]`);
    await row.locator("td", { hasText: "recording" }).waitFor();
    page.off("request", onRequest);
    expect(asked).toContain("/api/v1/site-health");
    expect(asked.filter((p) => /^\/api\/v1\/sites\/[^/]+$/.test(p))).toEqual([]);
    const text = await row.innerText();
    expect(text).toMatch(/\d+ days left/);
    expect(text).toMatch(/msg/);
    expect(text).toMatch(/(ms|unknown)/);
    await shot("08-site-health");

    // pull 6 s of cam1 to central: real bytes over the transfer engine. The window is one that
    // central's timeline shows the edge recorded: a fixed "12 to 6 s ago" fell into a gap of a
    // loaded machine's stall (a full run: retrieval done, "the edge recorded nothing in this
    // window", no bytes today), which the product reports rightly and the test must not ask for.
    const cam = `${siteId}.cam1`;
    const win = await until("6 s of cam1 recorded at the edge", async () => {
      const to = Date.now();
      const tl = await json<{ ranges: { start: string; end: string; held: string }[] }>("GET", `${central}/api/v1/cameras/${encodeURIComponent(cam)}/timeline?from=${new Date(to - 120_000).toISOString()}&to=${new Date(to).toISOString()}&stream=main`).catch(() => null);
      const edgeOnly = (tl?.ranges ?? []).map((x) => ({ s: Date.parse(x.start), e: Date.parse(x.end), held: x.held })).filter((x) => x.held === "edge" && x.e - x.s >= 6_000);
      const last = edgeOnly.at(-1);
      return last ? { from: last.e - 6_000, to: last.e } : null;
    }, 120_000, 500);
    const r = await json<{ id: string }>("POST", central + "/api/v1/retrievals", { cameraId: cam, from: new Date(win.from).toISOString(), to: new Date(win.to).toISOString(), priority: "request" });
    await until("the retrieval done", async () => (await json<{ state: string }>("GET", `${central}/api/v1/retrievals/${r.id}`).catch(() => null))?.state === "done", 120_000, 500);
    // Failed twice in full runs (never alone): the last answer (or error) and the retrieval go into the failure.
    let last = "";
    const t = await until("today's bytes in the transfer view", async () => {
      const v = await json<{ days: { day: string; bytes: number }[] }>("GET", `${central}/api/v1/sites/${siteId}/transfer`).catch((e: Error) => ((last = `error: ${e.message}`), null));
      if (v) last = `days: ${JSON.stringify(v.days)}`;
      return v?.days.find((d) => d.day === new Date().toISOString().slice(0, 10) && d.bytes > 0) ?? null;
    }, 60_000, 500).catch(async (e: Error) => {
      const rt = await json("GET", `${central}/api/v1/retrievals/${r.id}`).catch((x: Error) => x.message);
      throw new Error(`${e.message}; last answer ${last}; retrieval ${JSON.stringify(rt)}`);
    });
    await open("Link budget");
    const bar = page.locator(`g[data-day="${t.day}"]`);
    await bar.locator("rect").first().waitFor();
    expect(Number(await bar.getAttribute("data-bytes"))).toBeGreaterThanOrEqual(t.bytes);
    await page.getByRole("table", { name: "Links" }).waitFor();
    await shot("09-link-budget");
  }, 240_000);

  test("Schedules, link types and camera groups: forms with validation in words, saved through the API and used", async () => {
    // a schedule, then the rule runs during it
    await open("Schedules");
    await page.getByRole("button", { name: "New schedule…" }).click();
    let dlg = page.getByRole("dialog");
    await dlg.getByLabel("Schedule name").fill("night");
    await dlg.getByLabel("Time zone").fill("UTC");
    const w = dlg.getByRole("group", { name: "Window 1" });
    await w.getByLabel("From").fill("25:00");
    await dlg.getByRole("button", { name: "Save schedule" }).click();
    expect(await dlg.getByRole("alert").innerText()).toContain("Window 1: times are HH:MM between 00:00 and 24:00");
    await w.getByLabel("From").fill("22:00");
    await w.getByLabel("Sat").check();
    await shot("11-schedule-form");
    await dlg.getByRole("button", { name: "Save schedule" }).click();
    await dlg.waitFor({ state: "detached" });
    const tp = await json<{ timeProfiles: { name: string; timezone: string; windows: { days: string[]; from: string; to: string }[] }[] }>("GET", central + "/api/v1/time-profiles");
    expect(tp.timeProfiles.find((t) => t.name === "night")).toEqual({ name: "night", timezone: "UTC", windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat"], from: "22:00", to: "06:00" }] });
    await page.locator('tr[data-profile="night"]').waitFor();
    await open("Rules");
    await page.locator("tr", { hasText: "door-alarm" }).getByRole("button", { name: "Edit" }).click();
    dlg = page.getByRole("dialog");
    await dlg.getByLabel("Time profile").selectOption("night");
    await dlg.getByRole("button", { name: "Save rule" }).click();
    await dlg.waitFor({ state: "detached" });
    expect((await json<{ timeProfile?: string }>("GET", central + "/api/v1/rules/door-alarm")).timeProfile).toBe("night");

    // link types of the site's transfer policy
    await open("Link budget");
    await page.getByRole("button", { name: "Edit link types…" }).click();
    dlg = page.getByRole("dialog");
    await dlg.getByRole("button", { name: "Add link type" }).click();
    const l = dlg.getByRole("group", { name: "Link 1" });
    await l.getByLabel("Link type").fill("cellular");
    await l.getByLabel("Rate cap (Mbit/s)").fill("fast");
    await dlg.getByRole("button", { name: "Save link types" }).click();
    expect(await dlg.getByRole("alert").innerText()).toContain("the rate cap is a number of Mbit/s above 0");
    await l.getByLabel("Rate cap (Mbit/s)").fill("2");
    await l.getByLabel("Monthly budget (GB)").fill("5");
    await l.getByLabel("alarm").check();
    await l.getByLabel("request").check();
    await shot("12-link-types-form");
    await dlg.getByRole("button", { name: "Save link types" }).click();
    await dlg.waitFor({ state: "detached" });
    const pol = await json<{ policy: { options: string[]; links: Record<string, unknown> } }>("GET", `${central}/api/v1/sites/${siteId}/policy`);
    expect(pol.policy.links).toEqual({ cellular: { rateBitsPerSecond: 2_000_000, monthlyBytes: 5_000_000_000, allow: ["alarm", "request"] } });
    const row = page.getByRole("table", { name: "Links" }).locator("tr", { hasText: "cellular" });
    expect(await row.innerText()).toContain("2.00 Mbit/s");
    expect(await row.innerText()).toContain("alarm, request");

    // sharing: what the site shares, and a camera group a role can grant
    await open("Sharing");
    expect(await page.locator('tr[data-site="bus-101"]').innerText()).toContain("bus-101 camera 1");
    await page.getByRole("button", { name: "New group…" }).click();
    await page.getByLabel("Group name").fill("gates");
    await page.getByRole("button", { name: "Save group" }).click();
    await page.getByText("Choose at least one camera for the group.").waitFor();
    await page.getByLabel("Cameras", { exact: true }).selectOption([`${siteId}.cam1`]);
    await page.getByRole("button", { name: "Save group" }).click();
    await page.locator('tr[data-group="gates"]').waitFor();
    await shot("13-sharing");
    const groups = await json<{ groups: { name: string; cameras: string[] }[] }>("GET", central + "/api/v1/camera-groups");
    expect(groups.groups).toContainEqual({ name: "gates", cameras: [`${siteId}.cam1`] });
  }, 120_000);

  test("Firmware: campaigns and releases are listed (none in a fresh demo)", async () => {
    await open("Firmware");
    await page.getByRole("table", { name: "Firmware campaigns" }).getByText("No campaigns yet.").waitFor();
    await page.getByText("No release uploaded yet").waitFor();
    await shot("10-firmware");
  }, 30_000);

  test("API keys: revoked in the browser, the key is refused", async () => {
    await open("API keys");
    page.once("dialog", (d) => void d.accept());
    await page.locator('tr[data-key="door controller"]').getByRole("button", { name: "Revoke" }).click();
    await page.locator('tr[data-key="door controller"]').waitFor({ state: "detached" });
    expect((await call("POST", central + "/api/v1/events", { type: "door.forced", siteId }, { "x-api-key": key })).status).toBe(401);
  }, 30_000);
});
