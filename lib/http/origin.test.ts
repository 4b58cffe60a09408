import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { onNotFound, onProblem, readJson } from "./problem.ts";
import { sameOriginOnly } from "./origin.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { z } from "zod";

const app = new Hono();
app.onError(onProblem(new Logger({ component: "test", sink: new MemorySink() })));
app.notFound(onNotFound);
app.use("*", sameOriginOnly({ cookieName: "outpost_session", allowedOrigins: ["https://vms.example.com"] }));
app.post("/api/x", async (c) => c.json(await readJson(c, z.object({ a: z.number() }))));
app.get("/api/x", (c) => c.text("read"));

const URL0 = "http://127.0.0.1:8080/api/x";
const post = (headers: Record<string, string>, body = '{"a":1}') => app.request(URL0, { method: "POST", headers, body });
const json = { "content-type": "application/json" };

describe("sameOriginOnly", () => {
  test("a state change from another origin (another port of the same host) is refused 403 problem+json", async () => {
    const r = await post({ ...json, origin: "http://127.0.0.1:9999", cookie: "outpost_session=t" });
    expect(r.status).toBe(403);
    expect(r.headers.get("content-type")).toContain("problem+json");
    expect(((await r.json()) as { detail: string }).detail).toContain("http://127.0.0.1:9999");
    expect((await post({ ...json, origin: "null", cookie: "outpost_session=t" })).status).toBe(403);
  });

  test("own origin and configured origins pass; Sec-Fetch-Site same-origin/none pass, cross-site/same-site do not", async () => {
    expect((await post({ ...json, origin: "http://127.0.0.1:8080", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await post({ ...json, origin: "https://vms.example.com", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await post({ ...json, "sec-fetch-site": "same-origin", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await post({ ...json, "sec-fetch-site": "none", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await post({ ...json, "sec-fetch-site": "same-site", cookie: "outpost_session=t" })).status).toBe(403);
    expect((await post({ ...json, "sec-fetch-site": "cross-site" })).status).toBe(403);
  });

  test("no Origin: header credentials and anonymous requests pass (CLI, curl, API keys); a cookie alone does not", async () => {
    expect((await post({ ...json, authorization: "Bearer t" })).status).toBe(200);
    expect((await post({ ...json, "x-api-key": "k" })).status).toBe(200);
    expect((await post({ ...json, authorization: "Basic YTpi", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await post(json)).status).toBe(200);
    expect((await post({ ...json, cookie: "other=1" })).status).toBe(200);
    expect((await post({ ...json, cookie: "a=1; outpost_session=t" })).status).toBe(403);
  });

  test("WebSocket upgrades are checked like state changes; plain reads are not", async () => {
    const ws = (h: Record<string, string>) => app.request(URL0, { headers: { upgrade: "websocket", connection: "Upgrade", ...h } });
    expect((await ws({ origin: "http://127.0.0.1:9999", cookie: "outpost_session=t" })).status).toBe(403);
    expect((await ws({ cookie: "outpost_session=t" })).status).toBe(403);
    expect((await ws({ origin: "http://127.0.0.1:8080", cookie: "outpost_session=t" })).status).toBe(200);
    expect((await app.request(URL0, { headers: { origin: "http://127.0.0.1:9999", cookie: "outpost_session=t" } })).status).toBe(200);
  });

  test("reads embedded by another site with the cookie are refused; navigations, same-origin and header credentials pass", async () => {
    const get = (h: Record<string, string>) => app.request(URL0, { headers: h });
    const cookie = "outpost_session=t";
    expect((await get({ cookie, "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors" })).status).toBe(403);
    expect((await get({ cookie, "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" })).status).toBe(403);
    expect((await get({ cookie, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" })).status).toBe(200);
    expect((await get({ cookie, "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" })).status).toBe(200);
    expect((await get({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" })).status).toBe(200); // no session: nothing to abuse
    expect((await get({ cookie, authorization: "Bearer t", "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" })).status).toBe(200);
  });

  test("JSON bodies only as application/json: text/plain and forms are 415 problem+json, before and inside readJson", async () => {
    for (const t of ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]) {
      const r = await post({ authorization: "Bearer t", ...(t ? { "content-type": t } : {}) });
      expect(r.status).toBe(415);
      expect(r.headers.get("content-type")).toContain("problem+json");
    }
    expect((await post({ authorization: "Bearer t", "content-type": "application/merge-patch+json" })).status).toBe(200);
    expect((await post({ authorization: "Bearer t", "content-type": "application/json; charset=utf-8" })).status).toBe(200);
  });
});
