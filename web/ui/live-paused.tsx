/**
 * A live tile whose site has spent its link budget: central's reason ("live paused: this site's
 * cellular budget for December is used up (1.0 GB)") and, for users with admin-policies on the
 * site, the override that lets live run anyway for 24 h (audited at central; live resumes
 * within a second or two). Shown by the live grid (live.tsx) in the tile's overlay.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { can } from "../model.ts";
import { useApp } from "./common.tsx";

export const isBudgetPause = (reason: string | undefined): reason is string => !!reason && reason.startsWith("live paused:");

export function LivePaused(p: { camera: string; reason: string }) {
  const { me, notify } = useApp();
  const [busy, setBusy] = useState(false);
  const site = p.camera.slice(0, p.camera.indexOf("."));
  const override = async () => {
    setBusy(true);
    try {
      await api("POST", `/api/v1/sites/${encodeURIComponent(site)}/live-override`, { hours: 24, reason: "override from the live grid" });
      notify("Live may run past the budget for 24 h (recorded in the audit log).", "ok");
    } catch (e) {
      notify((e as Error).message, "error");
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="live-paused">
      {p.reason}
      {can(me, "admin-policies", { site }) && (
        <button class="chip" style={{ display: "block", margin: "6px auto 0" }} disabled={busy} onClick={() => void override()} title="Let live from this site run past its budget for 24 hours (audited)">
          Run live anyway (24 h)
        </button>
      )}
    </span>
  );
}
