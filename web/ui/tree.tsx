/** Site and camera tree: live status, search, health badges; drag a camera onto a tile or press Enter to open it. */
import { useMemo, useState } from "preact/hooks";
import { ROLE } from "../api.ts";
import { can, type Camera, type Site } from "../model.ts";
import { Badge, Dot, fmtAgo, fmtBytes, fmtTime, listKeys, navigate, useApp, useRoute } from "./common.tsx";
import { camStatus } from "./cam-status.ts";

export const CAMERA_MIME = "application/x-outpost-camera";
export const openBus = new EventTarget();
export function openCamera(camera: string, stream: "main" | "sub" = "main"): void {
  openBus.dispatchEvent(new CustomEvent("open", { detail: { camera, stream } }));
}

/** On a phone (no drag and drop, no double-click) a tap on a camera opens it. */
const tapToOpen = () => matchMedia("(max-width: 700px), (pointer: coarse)").matches;

/** Cameras this user may see: the server filters sites; cameras are checked against the grants too. */
export function visibleCameras(cameras: Camera[] | null, sites: Site[], me: ReturnType<typeof useApp>["me"]): Camera[] {
  if (!cameras) return [];
  if (ROLE === "edge") return cameras;
  const ids = new Set(sites.map((s) => s.id));
  return cameras.filter((c) => c.siteId && ids.has(c.siteId) && (can(me, "view-live", { site: c.siteId, camera: c.id }) || can(me, "playback", { site: c.siteId, camera: c.id })));
}

function SiteBadges(p: { s: Site }) {
  const s = p.s;
  const out = [];
  if (s.state === "revoked") out.push(<Badge tone="bad">revoked</Badge>);
  const cert = s.certificate;
  if (cert && cert.daysLeft <= 30) out.push(<Badge tone={cert.daysLeft <= 7 ? "bad" : "warn"} title={`certificate expires ${cert.notAfter}`}>cert {Math.floor(cert.daysLeft)} d</Badge>);
  const d = s.health?.disk;
  if (d?.totalBytes) {
    const pct = Math.round(((d.usedBytes ?? d.totalBytes - (d.freeBytes ?? 0)) / d.totalBytes) * 100);
    out.push(<Badge tone={pct > 90 ? "bad" : pct > 75 ? "warn" : "dim"} title={`disk ${fmtBytes(d.usedBytes)} of ${fmtBytes(d.totalBytes)}`}>disk {pct}%</Badge>);
  }
  if (s.health?.link?.type) out.push(<Badge tone="info">{s.health.link.type}</Badge>);
  if (s.warnings?.length) out.push(<Badge tone="warn" title={s.warnings.join("\n")}>{s.warnings.length} warning{s.warnings.length > 1 ? "s" : ""}</Badge>);
  return <span class="badges">{out}</span>;
}

/** The site row's tooltip: "last seen" only where it tells something (offline). */
function siteTitle(s: Site): string {
  if (s.state === "revoked") return `${s.name} — revoked; what central holds of its cameras stays playable and exportable`;
  if (s.online) return `${s.name} — online`;
  return `${s.name} — offline, ${s.lastSeenAt ? `last seen ${fmtAgo(s.lastSeenAt)}` : "never connected"}`;
}

export function Tree() {
  const { sites, cameras, me } = useApp();
  const route = useRoute();
  const [filter, setFilter] = useState("");
  const [closed, setClosed] = useState<Set<string>>(new Set());
  const vis = useMemo(() => visibleCameras(cameras, sites, me), [cameras, sites, me]);
  const f = filter.trim().toLowerCase();
  const selected = route.params.get("camera");
  const open = (c: Camera) => {
    // A revoked site has nothing live: its cameras open in playback (central's copy).
    if (c.revoked || route.path.startsWith("/playback") || route.path.startsWith("/map")) navigate(`/playback?camera=${encodeURIComponent(c.id)}`);
    else openCamera(c.id);
  };
  return (
    <aside class="tree" aria-label="Sites and cameras">
      <div class="tree-search">
        <input type="search" placeholder="Search sites and cameras" aria-label="Search sites and cameras" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </div>
      <ul class="tree-list" role="tree" onKeyDown={(e) => listKeys(e as unknown as KeyboardEvent)}>
        {sites.map((s) => {
          const cams = vis.filter((c) => (ROLE === "edge" || c.siteId === s.id) && (!f || c.name.toLowerCase().includes(f) || c.id.toLowerCase().includes(f) || s.name.toLowerCase().includes(f)));
          if (f && !cams.length && !s.name.toLowerCase().includes(f)) return null;
          const isOpen = !closed.has(s.id) || !!f;
          const toggle = () => setClosed((x) => (x.has(s.id) ? new Set([...x].filter((y) => y !== s.id)) : new Set([...x, s.id])));
          return (
            <li key={s.id} role="treeitem" aria-expanded={isOpen} class="site" data-site={s.name}>
              <div
                class="row site-row"
                tabIndex={0}
                data-row
                onClick={toggle}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " " || (e.key === "ArrowLeft" && isOpen) || (e.key === "ArrowRight" && !isOpen)) {
                    toggle();
                    e.preventDefault();
                  }
                }}
                title={siteTitle(s)}
              >
                <span class="caret">{isOpen ? "▾" : "▸"}</span>
                <Dot tone={s.state === "revoked" ? "bad" : s.online ? "ok" : "dim"} label={s.online ? "online" : "offline"} />
                <span class="name">{s.name}</span>
                <span class="seen">{s.online || s.state === "revoked" ? "" : s.lastSeenAt ? `seen ${fmtAgo(s.lastSeenAt)}` : "never connected"}</span>
                <SiteBadges s={s} />
              </div>
              {isOpen && (
                <ul role="group">
                  {cameras === null && ROLE === "central" && <li class="muted small pad-l">camera list not available on this central yet</li>}
                  {cameras !== null && !cams.length && <li class="muted small pad-l">no cameras</li>}
                  {cams.map((c) => {
                    // A camera of an offline site shows nothing live: greyed, with when the site was last heard.
                    const siteDown =
                      ROLE !== "central" ? null : s.state === "revoked" || c.revoked ? "site revoked — recordings at central stay playable" : !s.online ? `site offline since ${s.lastSeenAt ? fmtTime(s.lastSeenAt) : "never connected"}` : null;
                    const st = siteDown ? { tone: "dim" as const, label: siteDown } : camStatus(c);
                    const main = c.streams.find((x) => x.kind === "main");
                    return (
                      <li key={c.id} role="treeitem" aria-selected={selected === c.id}>
                        <div
                          class={`row cam-row${selected === c.id ? " selected" : ""}${siteDown ? " offline" : ""}${c.revoked ? " revoked" : ""}`}
                          tabIndex={0}
                          data-row
                          data-camera={c.id}
                          data-revoked={c.revoked ? "true" : undefined}
                          draggable={!c.revoked}
                          onDragStart={(e) => {
                            e.dataTransfer?.setData(CAMERA_MIME, c.id);
                            e.dataTransfer?.setData("text/plain", c.id);
                          }}
                          onDblClick={() => open(c)}
                          onClick={() => (route.path.startsWith("/playback") || tapToOpen()) && open(c)}
                          onKeyDown={(e) => e.key === "Enter" && open(c)}
                          title={`${c.name} — ${st.label}`}
                        >
                          <span class="cam-icon" aria-hidden="true">◉</span>
                          <Dot tone={st.tone} label={st.label} />
                          <span class="name">{c.name}</span>
                          {main?.width && <span class="res">{main.height}p</span>}
                          {c.revoked && <Badge tone="bad">revoked</Badge>}
                          {siteDown && !c.revoked && <span class="seen">{siteDown}</span>}
                        </div>
                      </li>
                    );
                  })}
                </ul>
              )}
            </li>
          );
        })}
        {!sites.length && <li class="muted pad">No sites enrolled yet.</li>}
      </ul>
      <div class="tree-foot muted small">Drag a camera onto a tile, or select it and press Enter.</div>
    </aside>
  );
}
