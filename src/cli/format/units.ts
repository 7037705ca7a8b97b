/**
 * Sizes as Nomad prints them (go-humanize `IBytes`): powers of 1024, one decimal below
 * ten of a unit ("8.0 GiB"), none above ("98 GiB").
 */
const SIZES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

export function formatBytes(bytes: number): string {
  if (bytes < 10) return `${Math.max(0, Math.round(bytes))} B`;
  const e = Math.min(SIZES.length - 1, Math.floor(Math.log(bytes) / Math.log(1024)));
  const value = Math.floor((bytes / 1024 ** e) * 10 + 0.5) / 10;
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${SIZES[e] ?? "B"}`;
}

export function formatMB(mb: number): string {
  return formatBytes(mb * 1024 * 1024);
}
