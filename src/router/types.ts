import type { CatalogSnapshot } from "../catalog/index.js";
import type { Constraint } from "./constraint.js";
import type { Middleware } from "./middlewares/index.js";
import type { Matcher } from "./rule.js";

/** How a route spreads requests over its backends. */
export const LbMethod = {
  /** Smooth weighted round robin; with equal weights, plain round robin. */
  RoundRobin: "wrr",
  /** Least request: the less busy of two backends drawn at random (power of two choices). */
  LeastRequest: "p2c",
} as const;
export type LbMethod = (typeof LbMethod)[keyof typeof LbMethod];

/** One instance a route forwards to. */
export interface Backend {
  /**
   * The catalog's instance ID. A server the KV provider reads (a URL, no catalog instance) is
   * held as an instance of service `S@consul` on node `traefik-kv`, ID `traefik-kv/S/N`
   * (`kv-provider.ts`), so that the table reads both providers alike.
   */
  id: string;
  /** `http://host:port` or `https://host:port`: the key of its connection pool. */
  origin: string;
  address: string;
  port: number;
  weight: number;
  /** The datacenter it is in when it is another's (failover); absent for the router's own. */
  datacenter?: string;
}

/** Sticky sessions: the cookie that sends a client back to the backend that served it (Traefik's `loadbalancer.sticky.cookie`). */
export interface StickyCookie {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  /** `SameSite`, as written in the cookie; empty: not set. */
  sameSite: "" | "None" | "Lax" | "Strict";
  /** `Max-Age` in seconds; 0: a session cookie. */
  maxAge: number;
  path: string;
  domain: string;
}

/** Traefik's active health check of a route's backends (`loadbalancer.healthcheck.*`), on top of the catalog's health. */
export interface ActiveCheck {
  /** The path probed, with its query (`/health?full=1`). */
  path: string;
  method: string;
  intervalMs: number;
  /** Between probes while the backend fails (Traefik v3's `unhealthyInterval`); `intervalMs` unless said. */
  unhealthyIntervalMs: number;
  timeoutMs: number;
  /** The port probed instead of the backend's; undefined: the backend's. */
  port: number | undefined;
  scheme: "http" | "https" | undefined;
  /** The Host sent; empty: the backend's address. */
  hostname: string;
  headers: Record<string, string>;
  /** The status a healthy backend answers; 0: any from 200 to 399. */
  status: number;
  /** Redirects followed (Traefik's `followRedirects`, on by default), on the probe's own origin only. */
  followRedirects: boolean;
}

/**
 * Where a route's requests go when none of its own datacenter's instances passes: nowhere
 * else (`off`), the nearest datacenter (by measured round trip) that has passing instances of
 * the service, or the first of a list that has some (Consul's prepared query `Failover`).
 */
export type FailoverPolicy = { kind: "off" } | { kind: "nearest" } | { kind: "datacenters"; datacenters: string[] };

/** A route's failover as the dashboard shows it. */
export interface RouteFailover {
  /** What its tags (or the configuration) ask. */
  asked: FailoverPolicy;
  /** The datacenter its backends are in now, or null when they are its own (or it has none). */
  servedFrom: string | null;
  /** Why it cannot fail over (the router has no federation, ...), or null. */
  note: string | null;
}

/** The other datacenters as the router last read them, nearest first: an input of the routing table. */
export interface DatacentersView {
  /** Why this router cannot fail over to another datacenter (it has no federation), or null when it can. */
  unavailable: string | null;
  datacenters: { name: string; snapshot: CatalogSnapshot | null; error: string | null }[];
}

export interface Route {
  /** The router's name in the tags, else the service's name. */
  name: string;
  service: string;
  /** The rule as written (or the default rule, rendered). */
  rule: string;
  matcher: Matcher;
  /** Path prefixes removed before forwarding (`PathPrefixStrip:`). */
  strip: string[];
  /** Higher first; by default the rule's length, as users expect. */
  priority: number;
  entryPoints: string[];
  method: LbMethod;
  /** Passing instances only; empty when none is (the router answers 503). */
  backends: Backend[];
  /** A token a request must carry (`Authorization: Bearer`), for a route to Ruche's own API. */
  token: string | null;
  /**
   * The tags of its instances that ask for what the router does not implement (a
   * middleware, a TLS option, ...), each with what it is: when any, the route is not
   * served as if they were absent but answered 503 naming them.
   */
  unimplemented: string[];
  /** Its failover to other datacenters when asked (a tag, or the configuration's default), else null. */
  failover: RouteFailover | null;
  /** Its sticky-session cookie, or null (its requests then go to the full server, which reads and sets it). */
  sticky: StickyCookie | null;
  /** Its backends probed by the router itself, those failing left out; null: the catalog's health only. */
  healthCheck: ActiveCheck | null;
  /** Its middlewares, in the order they apply (chains expanded); its requests then take the full server. */
  middlewares: Middleware[];
}

/** A service, instance or route left out of the table, and why. */
export interface Skipped {
  service: string;
  instance?: string;
  reason: string;
  /** Left out as a backend the router refuses (Ruche's own, loopback): logged once. */
  refused?: true;
}

/** Routes by entrypoint: by required host first, then those that may match any host. */
export interface EntryPointRoutes {
  byHost: Map<string, Route[]>;
  anyHost: Route[];
}

export interface RoutingTable {
  /** The catalog index it was built from. */
  index: number;
  /** Highest priority first. */
  routes: Route[];
  skipped: Skipped[];
  entryPoints: Map<string, EntryPointRoutes>;
  /** The other datacenters it was built with, nearest first (their catalog's index, null when not read), or why there are none. */
  datacenters: { unavailable: string | null; list: { name: string; index: number | null; error: string | null }[] };
}

/** Where an entrypoint listens; TLS when it has certificates. */
export interface EntryPointConfig {
  name: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  tls: { certFile: string; keyFile: string }[] | null;
}

/** The router's configuration, validated (see `parseRouterConfig`). */
export interface RouterConfig {
  /** Tag prefix, "traefik" by default. */
  prefix: string;
  /** Whether services without `traefik.enable=true` are routed. */
  exposedByDefault: boolean;
  domain: string;
  /** Template of the rule of services that give none: `{{name}}` and `{{domain}}`. */
  defaultRule: string;
  /** Each must hold for a service to be routed. */
  constraints: Constraint[];
  entryPoints: EntryPointConfig[];
  /** Entrypoints of routes that name none; all of them when empty. */
  defaultEntryPoints: string[];
  /** Other backends tried when one fails before answering an idempotent request. */
  retries: number;
  /** Passive ejection: consecutive failures before a backend is set aside, and for how long. */
  ejection: { failures: number; baseMs: number; maxMs: number };
  /**
   * What a request may cost, and how long each side may take (see the README's "Timeouts"):
   * `headersTimeoutMs` a client's request head, from its first byte; `requestTimeoutMs` a
   * client's whole request, and a backend's silence (before its response head: 504);
   * `idleTimeoutMs` a kept-alive client connection with no request; `dialTimeoutMs` a
   * connection to a backend.
   */
  limits: { maxBodyBytes: number; requestTimeoutMs: number; headersTimeoutMs: number; idleTimeoutMs: number; dialTimeoutMs: number };
  accessLog: boolean;
  /**
   * Ruche's own APIs (host:port; host 0.0.0.0 or empty means any address on that port).
   * Routes to them are refused unless `expose` is on, and then need `token`.
   */
  controlApi: { addresses: string[]; expose: boolean; token: string };
  /**
   * Backends on this machine's loopback or unspecified addresses (`127.0.0.1`, `localhost`,
   * `::1`, `0.0.0.0`, in any spelling) are refused unless this is on; a `-dev` agent, or one
   * bound to loopback only, turns it on (its services are all there). Ruche's own ports are
   * refused whatever it says.
   */
  allowLoopbackBackends: boolean;
  /** Failover to other datacenters of the routes whose instances' tags say nothing (`PREFIX.ruche.failover`); off by default. */
  failover: FailoverPolicy;
  /** The machine's own addresses and the router's own ports, filled in by `startRouter`; never read from the file. */
  self: { hosts: string[]; ports: number[] };
  /** The dashboard's address from the file (`[web] address`, `[api]`'s entrypoint); the agent's flag when it gives one. */
  dashboard?: { host: string; port: number };
  /**
   * The KV provider (`[consul]`, `providers.consul`): routers, services and middlewares read
   * from Ruche's own KV under `rootKey`, in Traefik v2's KV layout. Absent: none.
   */
  kv?: { rootKey: string; endpoints: string[] };
  /** The Consul endpoint the file names (`consulCatalog.endpoint`): the router reads the catalog of the agent it runs in. */
  catalogEndpoint?: string | null;
}
