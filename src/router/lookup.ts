import { matches, type RequestFacts } from "./rule.js";
import type { Route, RoutingTable } from "./types.js";

/** The route a request takes on an entrypoint: the first, by priority, whose rule matches; null if none. */
export function lookup(table: RoutingTable, entryPoint: string, req: RequestFacts): Route | null {
  const ep = table.entryPoints.get(entryPoint);
  if (ep === undefined) return null;
  const candidates = ep.byHost.get(req.host) ?? ep.anyHost;
  for (const r of candidates) if (matches(r.matcher, req)) return r;
  return null;
}

/**
 * The route as the table in use now has it (the same name, service and rule), else the one
 * given: a request retried after its backend failed takes the backends the catalog gives
 * since it began — the local instances gone, those of the datacenter it now fails over to.
 */
export function latest(table: RoutingTable, route: Route): Route {
  for (const r of table.routes) if (r === route) return r;
  for (const r of table.routes) if (r.name === route.name && r.service === route.service && r.rule === route.rule) return r;
  return route;
}

/** The host of a Host header or :authority, lower case, without its port or a final dot (`example.com.` is `example.com`, as Traefik's Host matches it). */
export function hostOf(header: string | undefined): string {
  if (header === undefined) return "";
  if (header.startsWith("[")) {
    const end = header.indexOf("]");
    return (end < 0 ? header : header.slice(0, end + 1)).toLowerCase();
  }
  const colon = header.indexOf(":");
  const h = (colon < 0 ? header : header.slice(0, colon)).toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** The body of the 503 a route asking for what the router does not implement answers with. */
export function unimplementedText(route: Route): string {
  return `503 Service Unavailable: route ${route.name} asks for what this router does not implement, and is not served without it: ${route.unimplemented.join("; ")}\n`;
}
