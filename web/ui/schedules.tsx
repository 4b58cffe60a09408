/** Admin → Schedules: the time profiles rules refer to ("during"), edited with a form. */
import "./panels.css";
import { useState } from "preact/hooks";
import { api, get } from "../api.ts";
import { LoadView, useApp, useLoad } from "./common.tsx";
import { EditDelete, ListTable } from "./paged-table.tsx";
import { TimeProfileEditor, type TimeProfileBody } from "./forms/time-profile-form.tsx";

interface Profile extends TimeProfileBody {
  name: string;
}

export function SchedulesAdmin() {
  const { notify } = useApp();
  const [v, reload] = useLoad(() => get<{ timeProfiles: Profile[] }>("/api/v1/time-profiles"), []);
  const [edit, setEdit] = useState<{ name: string | null; profile: TimeProfileBody | null } | null>(null);
  const del = async (p: Profile) => {
    if (!confirm(`Delete the schedule ${p.name}?`)) return;
    await api("DELETE", `/api/v1/time-profiles/${encodeURIComponent(p.name)}`).then(reload, (x) => notify((x as Error).message, "error"));
  };
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Schedules</h1>
        <span class="spacer" />
        <button class="primary" onClick={() => setEdit({ name: null, profile: null })}>
          New schedule…
        </button>
      </div>
      <p class="muted small">A rule with a schedule acts only on events whose original time falls in one of its windows.</p>
      <LoadView v={v} what="Schedules" endpoint="GET /api/v1/time-profiles">
        {(d) => (
          <ListTable label="Schedules" columns={["Schedule", "Time zone", "Windows", ""]} count={d.timeProfiles.length} empty="No schedules yet.">
            {d.timeProfiles.map((p) => (
              <tr key={p.name} data-profile={p.name}>
                <td>{p.name}</td>
                <td>{p.timezone ?? "UTC"}</td>
                <td>{p.windows.map((w) => `${w.days.join(" ")} ${w.from}–${w.to}`).join("; ")}</td>
                <td>
                  <EditDelete onEdit={() => setEdit({ name: p.name, profile: p })} onDelete={() => del(p)} />
                </td>
              </tr>
            ))}
          </ListTable>
        )}
      </LoadView>
      {edit && (
        <TimeProfileEditor
          name={edit.name}
          profile={edit.profile}
          onClose={() => setEdit(null)}
          onSaved={() => {
            setEdit(null);
            reload();
          }}
        />
      )}
    </section>
  );
}
