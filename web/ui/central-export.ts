/**
 * Export at central: POST /api/v1/exports answers the evidence package itself (ZIP) — saved
 * here as a download — or 202 while the footage is still being retrieved from the edge.
 * (The edge instead starts an MP4 job listed on its Exports page.)
 */
import { ApiError, CLIENT_ID } from "../api.ts";

export type CentralExport = { kind: "downloaded"; file: string } | { kind: "retrieving"; detail: string };

export async function exportAtCentral(b: { cameraId: string; fromMs: number; toMs: number; stream: string }): Promise<CentralExport> {
  const res = await fetch("/api/v1/exports", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-outpost-client": CLIENT_ID },
    body: JSON.stringify({ cameraId: b.cameraId, from: new Date(b.fromMs).toISOString(), to: new Date(b.toMs).toISOString(), stream: b.stream }),
  });
  if (res.status === 202) {
    const j = (await res.json()) as { detail?: string };
    return { kind: "retrieving", detail: j.detail ?? "The footage is being retrieved from the edge; export again when it is at central." };
  }
  if (!res.ok) {
    const p = (await res.json().catch(() => ({}))) as { detail?: string };
    throw new ApiError(res.status, p.detail ?? `${res.status} ${res.statusText}`);
  }
  const file = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "evidence.zip";
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = file;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { kind: "downloaded", file };
}
