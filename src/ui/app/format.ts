/** Small pure helpers for what the pages show. */

/** The first 8 characters of an id, as the CLI shows it. */
export function short(id: string): string {
  return id.slice(0, 8);
}

/** A colour of its own for each job, the same on every page and every load. */
export function jobHue(jobId: string): number {
  let h = 2166136261;
  for (let i = 0; i < jobId.length; i++) {
    h ^= jobId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** "3s ago", "5m ago", "2h ago", "4d ago" from Unix ms (and `now`). */
export function ago(ms: number, now: number = Date.now()): string {
  if (ms <= 0) return "—";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Unix ms from the API's RFC 3339 time (Nomad's `time.Time`); 0 for Go's zero time (not yet). */
export function msOfTime(t: string): number {
  const ms = Date.parse(t);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Unix ms from the API's unix nanoseconds (Nomad's `CreateTime`, `SubmitTime`). */
export function msOfNanos(ns: number): number {
  return ns > 0 ? Math.floor(ns / 1_000_000) : 0;
}

/** A local date and time from Unix ms. */
export function when(ms: number): string {
  return ms <= 0 ? "—" : new Date(ms).toLocaleString();
}

/** MB as MB, GiB beyond 1024. */
export function mb(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} GiB` : `${n} MB`;
}

/** Bytes as KiB, MiB or GiB, one decimal below ten (what a task uses). */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? String(Math.round(v)) : v < 10 ? v.toFixed(1) : String(Math.round(v))} ${units[i] ?? "B"}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Decodes a base64 KV value as UTF-8 text; null when it is not text. */
export function decodeValue(b64: string | null): string | null {
  if (b64 === null) return "";
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
