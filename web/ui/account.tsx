/**
 * Your account at central: RTSP stream credentials. A third-party player (VLC, ffplay,
 * another VMS) logs in to RTSP out with your user name and one of these secrets instead of
 * your password; each can be revoked alone. The secret is shown once, right after creation.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { LoadView, fmtAgo, fmtTime, useApp, useLoad } from "./common.tsx";

interface StreamCredential {
  id: string;
  label: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export function AccountView() {
  const { me, notify } = useApp();
  const [data, reload] = useLoad(() => api<{ credentials: StreamCredential[]; rtspUrl: string | null }>("GET", "/api/v1/me/stream-credentials"), []);
  const [label, setLabel] = useState("");
  const [made, setMade] = useState<{ label: string; secret: string } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      const r = await api<StreamCredential & { secret: string }>("POST", "/api/v1/me/stream-credentials", { label });
      setMade({ label: r.label, secret: r.secret });
      setLabel("");
      reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const revoke = async (c: StreamCredential) => {
    try {
      await api("DELETE", `/api/v1/me/stream-credentials/${encodeURIComponent(c.id)}`);
      if (made?.label === c.label) setMade(null);
      notify(`Revoked "${c.label}".`);
      reload();
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  return (
    <section class="pad page">
      <h1>Stream credentials</h1>
      <p>
        RTSP players and other VMSs log in to central's RTSP out with your user name <code>{me?.user}</code> and a stream credential instead of your password. A stream credential only plays live video
        you may watch; revoke it when the player is retired.
      </p>
      <LoadView v={data} what="Stream credentials" endpoint="GET /api/v1/me/stream-credentials">
        {(d) => (
          <>
            {d.rtspUrl && (
              <p>
                Stream address: <code data-testid="rtsp-url">{d.rtspUrl}</code>
              </p>
            )}
            {made && (
              <div class="notice notice-info" role="status" data-testid="new-credential">
                <strong>New credential "{made.label}"</strong>: copy it now, it is not shown again.
                <pre class="cmd">{made.secret}</pre>
                {d.rtspUrl && <pre class="cmd">{d.rtspUrl.replace(/^(rtsps?:\/\/)/, `$1${encodeURIComponent(me?.user ?? "")}:${made.secret}@`)}</pre>}
              </div>
            )}
            <table class="table" aria-label="Stream credentials">
              <thead>
                <tr>
                  <th>Label</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {d.credentials.map((c) => (
                  <tr key={c.id}>
                    <td>{c.label}</td>
                    <td>{fmtTime(c.createdAt)}</td>
                    <td>{c.lastUsedAt ? fmtAgo(c.lastUsedAt) : "never"}</td>
                    <td>
                      <button onClick={() => revoke(c)}>Revoke</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </LoadView>
      <form class="form-row" onSubmit={create} aria-label="New stream credential">
        <label>
          Label
          <input value={label} onInput={(e) => setLabel(e.currentTarget.value)} placeholder="VLC in the control room" required />
        </label>
        <button class="primary" type="submit">
          Create
        </button>
      </form>
      {err && (
        <div class="form-error" role="alert">
          {err}
        </div>
      )}
    </section>
  );
}
