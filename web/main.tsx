/**
 * web/: the Outpost web client (Preact + TypeScript, bundled by Bun; see build.ts/serve.ts).
 * Central serves the full operator/admin client; the edge serves the same bundle and the page
 * drops what a single recorder does not have (sites, alarms, admin). Owns only browser code;
 * talks to servers through /api/v1 exactly like any other client.
 */
import "./styles.css";
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ROLE, api, ApiError, get, setExpiredHandler } from "./api.ts";
import { can, isAdmin, loadCameras, loadSites, type Camera, type Me, type Site } from "./model.ts";
import { AppCtx, Link, Notice, navigate, useRoute, type AppState } from "./ui/common.tsx";
import { Tree } from "./ui/tree.tsx";
import { LiveView } from "./ui/live.tsx";
import { PlaybackView } from "./ui/playback.tsx";
import { AlarmsView, useAlarmCount } from "./ui/alarms.tsx";
import { MapView } from "./ui/map.tsx";
import { ExportsView } from "./ui/exports.tsx";
import { AdminView } from "./ui/admin.tsx";
import { AccountView } from "./ui/account.tsx";
import { TransfersView } from "./ui/transfers.tsx";
import { AlarmPopup } from "./ui/alarm-popup.tsx";
import { openBus } from "./ui/tree.tsx";
import { IconMenu } from "./ui/icons.tsx";
import { registerServiceWorker } from "./pwa-register.ts";
import { TechnicianView } from "./ui/technician.tsx";

type Auth = { state: "checking" } | { state: "out"; reason?: string } | { state: "in"; me: Me };

function Login(p: { reason?: string; onIn: (me: Me) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const r = await api<{ user: string; roles?: string[]; expiresAt: string }>("POST", "/api/v1/login", { user, password }, { quiet401: true });
      p.onIn(ROLE === "central" ? await get<Me>("/api/v1/me") : { user: r.user, roles: ["admin"], grants: [{ rights: ["*"], scope: "*" }], expiresAt: r.expiresAt });
    } catch (x) {
      setErr((x as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login-wrap">
      <form class="login" onSubmit={submit} aria-label="Log in">
        <div class="brand big">
          <span class="logo" aria-hidden="true" />
          OUTPOST <small>{ROLE === "edge" ? "edge recorder" : "central"}</small>
        </div>
        {p.reason && <Notice kind="warn">{p.reason}</Notice>}
        <label>
          User
          <input name="user" autoComplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} autoFocus required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {err && (
          <div class="form-error" role="alert">
            {err}
          </div>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}

function SessionClock(p: { expiresAt: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  const left = Date.parse(p.expiresAt) - now;
  if (!(left < 10 * 60e3)) return null;
  return (
    <span class="badge badge-warn" role="status">
      session ends in {Math.max(0, Math.ceil(left / 60e3))} min
    </span>
  );
}

function Shell(p: { me: Me; onLogout: () => void }) {
  const route = useRoute();
  const [sites, setSites] = useState<Site[]>([]);
  const [cameras, setCameras] = useState<Camera[] | null>(null);
  const [toast, setToast] = useState<{ text: string; kind: "ok" | "error" } | null>(null);
  const toastTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refresh = useCallback(() => {
    loadSites().then(setSites, () => undefined);
    loadCameras().then(setCameras, () => setCameras(null));
  }, []);
  useEffect(() => {
    refresh();
    const t = setInterval(refresh, 10_000);
    return () => clearInterval(t);
  }, [refresh]);
  const notify = useCallback((text: string, kind: "ok" | "error" = "ok") => {
    setToast({ text, kind });
    clearTimeout(toastTimer.current);
    toastTimer.current = setTimeout(() => setToast(null), 5000);
  }, []);
  const alarms = useAlarmCount(ROLE === "central", p.me.user);
  // Narrow screens (phones): the tabs fold into a menu and the camera tree into a drawer; either closes on navigation.
  const [menu, setMenu] = useState<"nav" | "tree" | null>(null);
  useEffect(() => setMenu(null), [route.path, route.params.toString()]);
  useEffect(() => {
    const close = () => setMenu(null);
    openBus.addEventListener("open", close);
    return () => openBus.removeEventListener("open", close);
  }, []);
  const admin = isAdmin(p.me);
  const state: AppState = { me: p.me, sites, cameras, refresh, notify };
  const tabs: [string, string][] = [
    ["/live", "Live"],
    ["/playback", "Playback"],
    // Only controls the user may use (export: the edge's MP4 jobs, central's evidence-package jobs).
    ...(can(p.me, "export") ? ([["/exports", "Exports"]] as [string, string][]) : []),
    ...(ROLE === "central" ? ([["/alarms", "Alarms"], ["/map", "Fleet map"]] as [string, string][]) : ([["/transfers", "Transfers"], ["/technician", "Technician"]] as [string, string][])),
    ...(admin ? ([["/admin", "Admin"]] as [string, string][]) : []),
  ];
  const path = route.path === "/" ? "/live" : route.path;
  const section = "/" + (path.split("/")[1] ?? "");
  let page;
  if (section === "/live") page = <LiveView />;
  else if (section === "/playback") page = <PlaybackView params={route.params} />;
  else if (section === "/exports") page = <ExportsView />;
  else if (section === "/alarms" && ROLE === "central") page = <AlarmsView params={route.params} />;
  else if (section === "/map" && ROLE === "central") page = <MapView />;
  else if (section === "/account" && ROLE === "central") page = <AccountView />;
  else if (section === "/transfers" && ROLE === "edge") page = <TransfersView />;
  else if (section === "/technician" && ROLE === "edge") page = <TechnicianView />;
  else if (section === "/admin" && admin) page = <AdminView path={path} />;
  else if (section === "/admin") page = <Notice kind="error">You are not permitted to use the admin pages.</Notice>;
  else page = <Notice kind="warn">There is no page {path}.</Notice>;
  const withTree = section === "/live" || section === "/playback" || section === "/map";
  return (
    <AppCtx.Provider value={state}>
      <div class={`shell${menu ? ` menu-${menu}` : ""}`}>
        <header class="top">
          <button class="icon menu-btn" aria-label="Menu" aria-expanded={menu === "nav"} aria-controls="main-nav" onClick={() => setMenu((m) => (m === "nav" ? null : "nav"))}>
            <IconMenu />
          </button>
          <div class="brand">
            <span class="logo" aria-hidden="true" />
            OUTPOST <small>{ROLE === "edge" ? sites[0]?.name ?? "edge" : "central"}</small>
          </div>
          {/* a tap on the current tab navigates nowhere, so the menu closes on any link's click */}
          <nav class="tabs" id="main-nav" aria-label="Main" onClick={(e) => (e.target as HTMLElement).closest("a") && setMenu(null)}>
            {tabs.map(([href, label]) => (
              <Link key={href} href={href} class={section === href ? "tab active" : "tab"}>
                {label}
                {href === "/alarms" && alarms > 0 && <span class="count">{alarms}</span>}
              </Link>
            ))}
            {ROLE === "central" && (
              <Link href="/account" class={`tab narrow-only${section === "/account" ? " active" : ""}`}>
                Account
              </Link>
            )}
          </nav>
          <div class="spacer" />
          {withTree && (
            <button class="tree-btn" aria-expanded={menu === "tree"} onClick={() => setMenu((m) => (m === "tree" ? null : "tree"))}>
              Cameras
            </button>
          )}
          <SessionClock expiresAt={p.me.expiresAt} />
          <span class="user" title={p.me.roles.join(", ")}>
            {p.me.user}
            <small>{p.me.roles.join(", ")}</small>
          </span>
          {ROLE === "central" && (
            <Link href="/account" class={section === "/account" ? "tab wide-only active" : "tab wide-only"} title="Your account: RTSP stream credentials">
              Account
            </Link>
          )}
          <button class="ghost" onClick={p.onLogout}>
            Log out
          </button>
        </header>
        {menu && <div class="drawer-back" onClick={() => setMenu(null)} />}
        <div class={withTree ? "body with-tree" : "body"}>
          {withTree && <Tree />}
          <main class="main" id="main">
            {page}
          </main>
        </div>
        {ROLE === "central" && <AlarmPopup />}
        {toast && (
          <div class={`toast toast-${toast.kind}`} role="status">
            {toast.text}
          </div>
        )}
      </div>
    </AppCtx.Provider>
  );
}

function App() {
  const [auth, setAuth] = useState<Auth>({ state: "checking" });
  useEffect(() => {
    setExpiredHandler(() => setAuth((a) => (a.state === "in" ? { state: "out", reason: "Your session has expired. Log in again to continue where you were." } : a)));
    (ROLE === "central"
      ? api<Me>("GET", "/api/v1/me", undefined, { quiet401: true })
      : api<unknown>("GET", "/api/v1/cameras", undefined, { quiet401: true }).then((): Me => ({ user: "admin", roles: ["local admin"], grants: [{ rights: ["*"], scope: "*" }], expiresAt: new Date(Date.now() + 8 * 3600e3).toISOString() }))
    ).then(
      (me) => setAuth({ state: "in", me }),
      (e) => setAuth({ state: "out", reason: e instanceof ApiError && e.status === 401 ? undefined : (e as Error).message }),
    );
  }, []);
  // Log out when the session's own expiry passes, even if the operator only watches video.
  useEffect(() => {
    if (auth.state !== "in") return;
    const left = Date.parse(auth.me.expiresAt) - Date.now();
    const t = setTimeout(() => setAuth({ state: "out", reason: "Your session has expired. Log in again to continue where you were." }), Math.max(0, Math.min(left, 2 ** 31 - 1)));
    return () => clearTimeout(t);
  }, [auth]);
  if (auth.state === "checking") return <div class="muted pad">Connecting…</div>;
  if (auth.state === "out") return <Login reason={auth.reason} onIn={(me) => setAuth({ state: "in", me })} />;
  const logout = async () => {
    await api("POST", "/api/v1/logout", undefined, { quiet401: true }).catch(() => undefined);
    setAuth({ state: "out", reason: "You are logged out." });
    navigate("/live");
  };
  return <Shell me={auth.me} onLogout={logout} />;
}

render(<App />, document.getElementById("app")!);
registerServiceWorker();
