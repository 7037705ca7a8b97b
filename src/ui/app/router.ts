/**
 * The dashboard's pages as paths under /ui/ (the API serves the page for each of them, so
 * a link or a reload lands on the same view), and navigation without reload.
 */
import { useEffect, useState } from "preact/hooks";
import { currentRegion, withRegion } from "./region.js";

export const BASE = "/ui";

export type Route =
  | { page: "cluster" }
  | { page: "servers" }
  | { page: "jobs" }
  | { page: "job"; id: string }
  | { page: "alloc"; id: string }
  | { page: "nodes" }
  | { page: "node"; id: string }
  | { page: "services" }
  | { page: "service"; name: string }
  | { page: "kv"; key: string }
  | { page: "router" }
  | { page: "missing"; path: string };

/** The route of a path under /ui (a KV key keeps its slashes). */
export function parse(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = rest.split("/").filter((p) => p !== "");
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const [first, second] = parts.map(decode);
  if (first === undefined) return { page: "cluster" };
  if (first === "kv") return { page: "kv", key: parts.slice(1).map(decode).join("/") + (rest.endsWith("/") && parts.length > 1 ? "/" : "") };
  if (parts.length === 1) {
    if (first === "servers" || first === "jobs" || first === "nodes" || first === "services" || first === "router") return { page: first };
  }
  if (parts.length === 2 && second !== undefined) {
    if (first === "jobs") return { page: "job", id: second };
    if (first === "allocations") return { page: "alloc", id: second };
    if (first === "nodes") return { page: "node", id: second };
    if (first === "services") return { page: "service", name: second };
  }
  return { page: "missing", path: pathname };
}

const enc = encodeURIComponent;

/** The page's region (`?region=`) kept on a link: a link or a reload lands in the same region. */
const at = (to: string): string => withRegion(to, currentRegion());

export const href = {
  cluster: (): string => at(`${BASE}/`),
  servers: (): string => at(`${BASE}/servers`),
  jobs: (): string => at(`${BASE}/jobs`),
  job: (id: string, namespace = "default"): string => at(`${BASE}/jobs/${enc(id)}${namespace === "default" ? "" : `?namespace=${enc(namespace)}`}`),
  alloc: (id: string): string => at(`${BASE}/allocations/${enc(id)}`),
  nodes: (): string => at(`${BASE}/nodes`),
  node: (id: string): string => at(`${BASE}/nodes/${enc(id)}`),
  services: (): string => at(`${BASE}/services`),
  service: (name: string): string => at(`${BASE}/services/${enc(name)}`),
  kv: (key: string): string => at(`${BASE}/kv/${key.split("/").map(enc).join("/")}`),
  router: (): string => at(`${BASE}/router`),
};

const listeners = new Set<() => void>();

export function navigate(to: string): void {
  if (to === location.pathname + location.search) return;
  history.pushState(null, "", to);
  for (const fn of listeners) fn();
  window.scrollTo(0, 0);
}

/** Same-page links: a plain click on `<a href="/ui/...">` navigates without a reload. */
export function interceptLinks(): void {
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target instanceof Element ? e.target.closest("a") : null;
    if (a === null || a.target !== "" || a.hasAttribute("download")) return;
    const to = new URL(a.href, location.href);
    if (to.origin !== location.origin || !to.pathname.startsWith(`${BASE}/`)) return;
    e.preventDefault();
    navigate(to.pathname + to.search);
  });
  window.addEventListener("popstate", () => {
    for (const fn of listeners) fn();
  });
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname));
  useEffect(() => {
    const fn = (): void => {
      setRoute(parse(location.pathname));
    };
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  }, []);
  return route;
}
