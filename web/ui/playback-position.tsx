/**
 * Beside the video in playback (central): where the vehicle was at the played moment — speed,
 * heading and position from its kept track (GET /api/v1/sites/:id/track), interpolated between
 * the two kept points around the moment. The track is loaded in 10-minute windows around the
 * play head, so playing on does not ask again every frame. "No fix" says so; nothing is made up.
 */
import "./fleet.css";
import { useEffect, useState } from "preact/hooks";
import { compass, kmh, loadTrack, type TrackPoint } from "./fleet-data.ts";
import { positionAt } from "./track-at.ts";

const WINDOW = 10 * 60_000;

export function PositionPanel(p: { siteId: string; atMs: number | null }) {
  const [win, setWin] = useState<{ siteId: string; from: number; points: TrackPoint[] | null } | null>(null);
  const [err, setErr] = useState(false);
  const slot = p.atMs === null ? null : Math.floor(p.atMs / WINDOW) * WINDOW;
  useEffect(() => {
    if (slot === null) return;
    let live = true;
    setErr(false);
    // the slot and the one before it: the last kept point before the moment may be minutes old when parked
    loadTrack(p.siteId, slot - WINDOW, slot + WINDOW).then(
      (points) => live && setWin({ siteId: p.siteId, from: slot, points }),
      () => live && setErr(true),
    );
    return () => {
      live = false;
    };
  }, [p.siteId, slot]);
  if (p.atMs === null) return null;
  const at = win?.siteId === p.siteId && win.points ? positionAt(win.points, p.atMs) : null;
  return (
    <dl class="position-panel" aria-label="Vehicle position" data-testid="position-panel">
      {err ? (
        <dd class="muted">The vehicle's track could not be loaded.</dd>
      ) : !win ? (
        <dd class="muted">Loading the vehicle's position…</dd>
      ) : !at ? (
        <dd class="muted">No position kept for this moment.</dd>
      ) : at.lat === undefined ? (
        <dd class="muted">No GPS position at this moment ({at.fix}).</dd>
      ) : (
        <>
          <div>
            <dt>Speed</dt>
            <dd data-testid="pos-speed">{kmh(at.speedMps)}</dd>
          </div>
          <div>
            <dt>Heading</dt>
            <dd data-testid="pos-heading">
              {compass(at.headingDeg)}
              {at.headingDeg !== undefined && <span class="heading-arrow" style={{ transform: `rotate(${Math.round(at.headingDeg)}deg)` }} aria-hidden="true" />}
            </dd>
          </div>
          <div>
            <dt>Position</dt>
            <dd data-testid="pos-latlon">
              {at.lat.toFixed(5)}, {at.lon!.toFixed(5)}
            </dd>
          </div>
        </>
      )}
    </dl>
  );
}
