/**
 * The region the dashboard shows, kept in the page's URL as `?region=` the way Nomad's UI
 * keeps it: absent, the region of the server that served the page; present, every request
 * (the event stream's too) carries it, and the server sends it on to that region. Every link
 * of the dashboard keeps it, so a link or a reload lands in the same region.
 */

/** The `?region=` of a URL's query ("" when it names none). */
export function regionOf(search: string): string {
  return new URLSearchParams(search).get("region") ?? "";
}

/** `to` (a path with or without a query) asking for `region`: unchanged when region is "" or `to` already names one. */
export function withRegion(to: string, region: string): string {
  if (region === "") return to;
  const q = to.indexOf("?");
  if (q >= 0 && new URLSearchParams(to.slice(q + 1)).has("region")) return to;
  return `${to}${q >= 0 ? "&" : "?"}region=${encodeURIComponent(region)}`;
}

/**
 * The address of the page at `pathname` + `search` in `region`: `?region=` set to it, or
 * taken off when it is `own` (the region of the server that serves the page), as Nomad's UI
 * drops the region of its default. The rest of the query stays.
 */
export function inRegion(pathname: string, search: string, region: string, own: string): string {
  const q = new URLSearchParams(search);
  if (region === "" || region === own) q.delete("region");
  else q.set("region", region);
  const s = q.toString();
  return s === "" ? pathname : `${pathname}?${s}`;
}

/** The region the page's URL asks for ("" when none: the serving server's own). */
export function currentRegion(): string {
  return typeof location === "undefined" ? "" : regionOf(location.search);
}
