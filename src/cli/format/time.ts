/**
 * Times as Nomad's CLI prints them. Absolute times are in UTC, in the form the walkthrough
 * shows (`09/04/17 12:36:41 UTC`), so the same state prints the same on every machine;
 * ages are relative to a `now` the caller passes in ("2m5s ago").
 */

/** Unix ms → `MM/DD/YY HH:MM:SS UTC`; "N/A" for a time that was never set (0). */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "N/A";
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC`;
}

/** Unix ns (job submit times, task events) → Unix ms. */
export function nanosToMs(ns: number): number {
  return Math.floor(ns / 1_000_000);
}

const UNITS: readonly (readonly [string, number])[] = [
  ["y", 365 * 86_400],
  ["d", 86_400],
  ["h", 3_600],
  ["m", 60],
  ["s", 1],
];

/**
 * The time between `thenMs` and `nowMs` in its two most significant units, as Nomad's
 * `prettyTimeDiff`: "5s ago", "2m5s ago", "1h0m ago", "3d2h ago", "10s from now".
 * "" for a time that was never set (0).
 */
export function formatAgo(thenMs: number, nowMs: number): string {
  if (!Number.isFinite(thenMs) || thenMs <= 0) return "";
  const diff = Math.round(nowMs / 1000) - Math.round(thenMs / 1000);
  const suffix = diff >= 0 ? " ago" : " from now";
  let rest = Math.abs(diff);
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (parts.length === 0 && n === 0 && unit !== "s") continue;
    parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.join("") + suffix;
}
