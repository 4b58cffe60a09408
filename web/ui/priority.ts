/** Alarm priority colours (1 = most urgent … 5), shared by the alarm list, the alarm pop-up and timeline markers. */

export const PRIORITY_COLORS: Record<number, string> = { 1: "#e5484d", 2: "#f17a2a", 3: "#e0c326", 4: "#3d8bfd", 5: "#8b95a5" };

export const priorityColor = (p: number): string => PRIORITY_COLORS[Math.min(5, Math.max(1, Math.round(p) || 5))]!;

export const priorityLabel = (p: number): string => (p <= 1 ? "critical" : p === 2 ? "high" : p === 3 ? "medium" : p === 4 ? "low" : "info");
