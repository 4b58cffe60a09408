/** Small shared pieces: navigation, async loading, badges, notices, formatting. */
import { createContext } from "preact";
import type { ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { ApiError } from "../api.ts";
import { IconClose } from "./icons.tsx";
import type { Camera, Me, Site } from "../model.ts";

export interface AppState {
  me: Me | null;
  sites: Site[];
  cameras: Camera[] | null;
  refresh: () => void;
  notify: (text: string, kind?: "ok" | "error") => void;
}
export const AppCtx = createContext<AppState>(null as unknown as AppState);
export const useApp = () => useContext(AppCtx);

export function navigate(to: string): void {
  if (location.pathname + location.search === to) return;
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): { path: string; params: URLSearchParams } {
  const [loc, setLoc] = useState(() => location.pathname + location.search);
  useEffect(() => {
    const on = () => setLoc(location.pathname + location.search);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  const u = new URL(loc, location.origin);
  return { path: u.pathname, params: u.searchParams };
}

export function Link(p: { href: string; class?: string; children: ComponentChildren; title?: string }) {
  return (
    <a
      href={p.href}
      class={p.class}
      title={p.title}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.button !== 0) return;
        e.preventDefault();
        navigate(p.href);
      }}
    >
      {p.children}
    </a>
  );
}

export type Loaded<T> = { state: "loading" } | { state: "ok"; data: T } | { state: "missing" } | { state: "error"; message: string };

/** Loads on mount and whenever deps change; "missing" when the server has no such endpoint (404). */
export function useLoad<T>(fn: () => Promise<T | null>, deps: unknown[]): [Loaded<T>, () => void] {
  const [v, setV] = useState<Loaded<T>>({ state: "loading" });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then(
      (data) => live && setV(data === null ? { state: "missing" } : { state: "ok", data }),
      (e) => live && setV(e instanceof ApiError && e.missing ? { state: "missing" } : { state: "error", message: (e as Error).message }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return [v, useCallback(() => setN((x) => x + 1), [])];
}

export function Notice(p: { kind?: "info" | "warn" | "error" | "missing"; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${p.kind ?? "info"}`} role={p.kind === "error" ? "alert" : "status"}>
      {p.children}
    </div>
  );
}

export function NotHere(p: { what: string; endpoint: string }) {
  return (
    // People get a sentence; the endpoint stays in the tooltip for whoever supports them.
    <div title={p.endpoint}>
      <Notice kind="missing">
        <strong>{p.what} is not available on this {document.querySelector('meta[name="outpost-role"]')?.getAttribute("content") === "edge" ? "recorder" : "central"}.</strong> Nothing is shown rather than made-up data.
      </Notice>
    </div>
  );
}

export function LoadView<T>(p: { v: Loaded<T>; what: string; endpoint: string; children: (d: T) => ComponentChildren }) {
  if (p.v.state === "loading") return <div class="muted pad">Loading {p.what.toLowerCase()}…</div>;
  if (p.v.state === "missing") return <NotHere what={p.what} endpoint={p.endpoint} />;
  if (p.v.state === "error") return <Notice kind="error">{p.v.message}</Notice>;
  return <>{p.children(p.v.data)}</>;
}

export function Badge(p: { tone: "ok" | "warn" | "bad" | "info" | "dim"; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${p.tone}`} title={p.title}>
      {p.children}
    </span>
  );
}

export function Dot(p: { tone: "ok" | "warn" | "bad" | "dim"; label: string }) {
  return <span class={`dot dot-${p.tone}`} role="img" aria-label={p.label} title={p.label} />;
}

export function fmtTime(ms: number | string | null | undefined, withDate = true): string {
  if (ms == null) return "—";
  const d = new Date(typeof ms === "string" ? Date.parse(ms) : ms);
  if (Number.isNaN(d.getTime())) return "—";
  const p = (n: number) => String(n).padStart(2, "0");
  const t = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${t}` : t;
}

export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 5) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n == null) return "—";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${u[i]}`;
}

export function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** ISO for <input type="datetime-local"> (local time, seconds). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}
export const fromLocalInput = (s: string) => new Date(s).getTime();

export function Modal(p: { title: string; onClose: () => void; children: ComponentChildren }) {
  useEffect(() => {
    const k = (e: KeyboardEvent) => e.key === "Escape" && p.onClose();
    addEventListener("keydown", k);
    return () => removeEventListener("keydown", k);
  }, [p.onClose]);
  return (
    <div class="modal-back" onClick={(e) => e.target === e.currentTarget && p.onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={p.title}>
        <header>
          <h2>{p.title}</h2>
          <button class="icon" onClick={p.onClose} aria-label="Close">
            <IconClose />
          </button>
        </header>
        <div class="modal-body">{p.children}</div>
      </div>
    </div>
  );
}

/** Arrow-key movement between the focusable rows of a list (roving focus). */
export function listKeys(e: KeyboardEvent, selector = "[data-row]"): void {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp" && e.key !== "Home" && e.key !== "End") return;
  const host = e.currentTarget as HTMLElement;
  const rows = [...host.querySelectorAll<HTMLElement>(selector)].filter((r) => r.offsetParent !== null);
  const i = rows.indexOf(document.activeElement as HTMLElement);
  const n = e.key === "Home" ? 0 : e.key === "End" ? rows.length - 1 : Math.max(0, Math.min(rows.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)));
  rows[n]?.focus();
  e.preventDefault();
}
