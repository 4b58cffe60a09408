import "reflect-metadata";
/**
 * Web client security in a real browser (camsim → edge → central live).
 * 1. Cross-site request forgery and cross-site WebSocket hijacking: Debian
 * Chromium (playwright-core) with the admin logged in to central, then a page served on another
 * loopback port — the same site for SameSite cookies, so the session cookie goes along — tries
 * a no-cors text/plain POST that would create an admin user and a WebSocket to live video
 * (camsim → edge → central). Both must be refused: no user, not one video byte. The same
 * WebSocket from central's own origin gets video (the control that shows the test can see it).
 * 2. The admin users screen's "End sessions" button closes another user's live stream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext } from "playwright-core";
import { launchChromium, signIn } from "./browser.ts";
import { startLiveRig, untilRecording, type LiveRig } from "../central/live/testkit.ts";
import { TestViewer } from "../central/live/viewer.ts";


let rig: LiveRig;
let browser: Browser;
let ctx: BrowserContext;
let evil: ReturnType<typeof Bun.serve>;
let central: string;
let cam: string;

/** The attacker's page: forged POST (no-cors, text/plain JSON) and a WebSocket to live, results in window.result. */
const attackPage = (centralUrl: string, camera: string) => `<!doctype html><title>cat pictures</title><script>
window.result = (async () => {
  const central = ${JSON.stringify(centralUrl)};
  const post = async (type, body) => {
    try {
      await fetch(central + "/api/v1/users", { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": type }, body });
      return "sent";
    } catch (e) { return "error " + e; }
  };
  const json = await post("text/plain", JSON.stringify({ name: "csrf-evil", password: "evil-password-1", roles: ["admin"] }));
  const form = await post("application/x-www-form-urlencoded", "name=csrf-evil2&password=evil-password-2");
  // a read embedded with the cookie (the page cannot see a no-cors answer, but a <video> could show it)
  await fetch(central + "/api/v1/users?embedded", { mode: "no-cors", credentials: "include" }).catch(() => undefined);
  const ws = await new Promise((resolve) => {
    const s = new WebSocket(central.replace(/^http/, "ws") + "/api/v1/cameras/" + ${JSON.stringify(camera)} + "/live");
    s.binaryType = "arraybuffer";
    let bytes = 0, opened = false;
    s.onopen = () => (opened = true);
    s.onmessage = (e) => { bytes += typeof e.data === "string" ? e.data.length : e.data.byteLength; };
    s.onclose = (e) => resolve({ opened, bytes, closed: true, code: e.code });
    setTimeout(() => { resolve({ opened, bytes, closed: false }); s.close(); }, 8000);
  });
  return { json, form, ws };
})();
</script>`;

async function adminApi(path: string): Promise<Response> {
  return fetch(central + path, { headers: { authorization: `Bearer ${rig.token}` } });
}

beforeAll(async () => {
  rig = await startLiveRig({ cameras: 1 });
  central = rig.central.apiUrl;
  cam = `${rig.identity.siteId}.cam1`;
  evil = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(attackPage(central, cam), { headers: { "content-type": "text/html" } }) });
  browser = await launchChromium();
  ctx = await browser.newContext();
  await untilRecording(rig.edge);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  evil?.stop(true);
  await rig?.close();
}, 30_000);

describe("a page on another origin cannot act with the admin's session", () => {
  test("logged-in admin visits a page on another port: forged POSTs and the live WebSocket are refused", async () => {
    // The admin logs in to central in this browser (HttpOnly session cookie, SameSite=Strict).
    const own = await ctx.newPage();
    await own.goto(central + "/api/v1/health");
    const login = await own.evaluate(async (pw) => (await fetch("/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: pw }) })).status, rig.central.initialAdminPassword!);
    expect(login).toBe(200);
    expect((await ctx.cookies(central)).some((c) => c.name === "outpost_session" && c.httpOnly)).toBe(true);

    // Control: central's own page gets live video over the cookie.
    const control = await own.evaluate(async (path) => {
      return await new Promise<{ bytes: number }>((resolve) => {
        const s = new WebSocket(location.origin.replace(/^http/, "ws") + path);
        s.binaryType = "arraybuffer";
        let bytes = 0;
        s.onmessage = (e) => (bytes += typeof e.data === "string" ? e.data.length : (e.data as ArrayBuffer).byteLength);
        setTimeout(() => (s.close(), resolve({ bytes })), 8000);
      });
    }, `/api/v1/cameras/${cam}/live`);
    console.log(`same-origin control: ${control.bytes} live bytes`);
    expect(control.bytes).toBeGreaterThan(10_000);

    const page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${evil.port}/`);
    const r = (await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as { json: string; form: string; ws: { opened: boolean; bytes: number; closed: boolean } };
    console.log("cross-origin attempt:", JSON.stringify(r));
    expect(r.json).toBe("sent"); // the browser did send it (no-cors hides the answer from the page) ...
    expect((await adminApi("/api/v1/users/csrf-evil")).status).toBe(404); // ... and central refused it
    expect((await adminApi("/api/v1/users/csrf-evil2")).status).toBe(404);
    expect(r.ws.opened).toBe(false);
    expect(r.ws.bytes).toBe(0);
    // The refusals carried the admin's cookie and are in the audit log.
    await rig.central.ops.audit.flush();
    const denied = (await rig.central.ops.audit.query({ action: "access-denied", limit: 100 })).records;
    expect(denied.some((d) => d.subject === "POST /api/v1/users" && String(d.detail.reason).includes(`127.0.0.1:${evil.port}`))).toBe(true);
    expect(denied.some((d) => d.subject === `GET /api/v1/cameras/${cam}/live`)).toBe(true);
    expect(denied.some((d) => d.subject === "GET /api/v1/users" && String(d.detail.reason).includes("may not read"))).toBe(true);
  }, 90_000);
});

describe("admin users screen", () => {
  test("'End sessions' closes the user's live WebSocket at once and logs them out", async () => {
    const j = { authorization: `Bearer ${rig.token}`, "content-type": "application/json" };
    // A watcher: view-live on this site only (central enforces the right on the live route).
    expect((await fetch(central + "/api/v1/roles/night-watch", { method: "PUT", headers: j, body: JSON.stringify({ grants: [{ rights: ["view-live"], scope: `site:${rig.identity.siteId}` }] }) })).status).toBe(200);
    expect((await fetch(central + "/api/v1/users", { method: "POST", headers: j, body: JSON.stringify({ name: "night-guard", password: "night-guard-pw", roles: ["night-watch"] }) })).status).toBe(201);
    const login = await fetch(central + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "night-guard", password: "night-guard-pw" }) });
    const token = ((await login.json()) as { token: string }).token;
    const v = new TestViewer(`${central.replace(/^http/, "ws")}/api/v1/cameras/${cam}/live`, token);
    const deadline = Date.now() + 20_000;
    while (v.fragments < 2 && Date.now() < deadline) await Bun.sleep(100);
    expect(v.fragments).toBeGreaterThanOrEqual(2);

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on("dialog", (d) => void d.accept());
    await signIn(page, central + "/live", "admin", rig.central.initialAdminPassword!);
    await page.goto(central + "/admin/users");
    const row = page.getByRole("table", { name: "Users" }).locator("tr", { hasText: "night-guard" });
    const t0 = Date.now();
    await row.getByRole("button", { name: "End sessions" }).click();
    await page.getByText("night-guard: 1 session(s) ended, 1 stream(s) closed.").waitFor();
    const shown = Date.now(); // the action has taken effect; the 2 s deadline runs from here, not from a loaded browser's click
    while (!v.closed && Date.now() < shown + 10_000) await Bun.sleep(20);
    console.log(`End sessions button → viewer closed ${v.closedAt! - t0} ms after the click, ${v.closedAt! - shown} ms after the answer showed`);
    expect(v.closed?.code).toBe(1008);
    expect(v.closedAt! - shown).toBeLessThan(2000);
    expect((await fetch(central + "/api/v1/me", { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    await page.screenshot({ path: "test-artifacts/web/10-admin-end-sessions.png" }).catch(() => undefined);
    await page.close();
  }, 90_000);
});
