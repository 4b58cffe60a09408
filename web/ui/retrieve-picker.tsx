/**
 * Choosing a transfer priority: the priorities (most urgent first), their <option>s for any
 * priority select (role grants, rule actions), and the retrieval picker that playback ("Retrieve
 * this range") and the fleet search ("Retrieve all") both show: a priority select, then the
 * button that asks for the retrieval.
 */
import type { ComponentChildren } from "preact";

const PRIORITIES = ["alarm", "request", "event", "scheduled", "backfill"];

/** One <option> a priority, for a <select> of priorities. */
export function PriorityOptions() {
  return (
    <>
      {PRIORITIES.map((x) => (
        <option key={x}>{x}</option>
      ))}
    </>
  );
}

/** The priority select and the retrieve button; `children` stand between them (playback's quality select). */
export function RetrievePicker(p: { priority: string; onPriority: (priority: string) => void; onRetrieve: () => void; disabled: boolean; title: string; label: ComponentChildren; children?: ComponentChildren }) {
  return (
    <>
      <label class="label">
        Priority{" "}
        <select value={p.priority} onChange={(e) => p.onPriority(e.currentTarget.value)}>
          <PriorityOptions />
        </select>
      </label>
      {p.children}
      <button onClick={p.onRetrieve} disabled={p.disabled} title={p.title}>
        {p.label}
      </button>
    </>
  );
}
