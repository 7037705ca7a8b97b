/**
 * Durations are integers of nanoseconds, as in Nomad's JSON API, so that a job read
 * back with `ruche job inspect` has the same numbers a Nomad user knows.
 */
export type Nanos = number;

export const NS = {
  nanosecond: 1,
  microsecond: 1_000,
  millisecond: 1_000_000,
  second: 1_000_000_000,
  minute: 60_000_000_000,
  hour: 3_600_000_000_000,
} as const;

const UNITS: Readonly<Record<string, number>> = {
  ns: NS.nanosecond,
  us: NS.microsecond,
  "µs": NS.microsecond,
  ms: NS.millisecond,
  s: NS.second,
  m: NS.minute,
  h: NS.hour,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/;

/**
 * Parses a duration the way Go's `time.ParseDuration` does ("30s", "1h30m", "1.5h",
 * "500ms"); returns undefined when the text is not one. Negative durations are refused:
 * no job field takes one.
 */
export function parseDuration(text: string): Nanos | undefined {
  if (text === "0") return 0;
  let rest = text;
  let total = 0;
  if (rest.length === 0) return undefined;
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (m === null) return undefined;
    const [whole, num, unit] = m as unknown as [string, string, string];
    const factor = UNITS[unit];
    if (factor === undefined) return undefined;
    total += Number(num) * factor;
    rest = rest.slice(whole.length);
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) return undefined;
  return Math.round(total);
}

/** Formats nanoseconds the way Go prints a time.Duration ("1h2m3s", "500ms", "0s"). */
export function formatDuration(ns: Nanos): string {
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  let v = Math.abs(ns);
  if (v < NS.microsecond) return `${sign}${v}ns`;
  if (v < NS.millisecond) return `${sign}${trim(v / NS.microsecond)}µs`;
  if (v < NS.second) return `${sign}${trim(v / NS.millisecond)}ms`;
  let out = "";
  const h = Math.floor(v / NS.hour);
  v -= h * NS.hour;
  const m = Math.floor(v / NS.minute);
  v -= m * NS.minute;
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  out += `${trim(v / NS.second)}s`;
  return sign + out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
