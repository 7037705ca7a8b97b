import { aggregate, NODE_CHECK, type CatalogSnapshot } from "../catalog/index.js";
import { errorMessage, instanceProblem } from "../structs/index.js";
import { canonicalHost, guardOf, judgeBackend } from "./backend-guard.js";
import { cookieName, readLabels } from "./labels.js";
import { isKvInstance } from "./kv-provider.js";
import { providerDefinitions } from "./middlewares/index.js";
import { parseRule, requiredHosts, type Rule } from "./rule.js";
import type { Backend, DatacentersView, EntryPointRoutes, FailoverPolicy, Route, RouterConfig, RoutingTable, Skipped } from "./types.js";

/** An instance's weight in the catalog (Consul's `Weights.Passing`), when it has one. */
function catalogWeight(inst: CatalogSnapshot["instances"][number]): number | undefined {
  const w: unknown = inst.details?.Weights?.Passing;
  return typeof w === "number" && Number.isInteger(w) && w >= 0 ? w : undefined;
}

/** What a router with no federation (an agent alone) knows of other datacenters: nothing, and it says so. */
export const NO_FEDERATION: DatacentersView = { unavailable: "this router has no federation (no other datacenter is known): serving local instances only", datacenters: [] };

/**
 * The routing table: a pure function of the catalog (services, instances, their tags and
 * health) and the router's configuration. Every instance whose tags, `exposedByDefault`
 * and constraints say so is part of a route; only passing instances are its backends. A
 * route with no passing instance falls back on those that fail only their node's check
 * (`serfHealth`: the servers have not heard from the node's agent — restarting, or cut
 * off from them — while the instance itself last passed its own checks): they may well
 * still serve, and the proxy's retries and ejection deal with those that do not. So a
 * service whose every instance sits on one node whose agent restarts is still routed
 * until its replacements pass.
 * A route whose instances ask for failover (`PREFIX.ruche.failover`, else the configuration's
 * `failover`) and has none passing takes the passing instances of the nearest other datacenter
 * that has some (`others`, nearest first, as the router last read them) — before the local
 * ones failing only their node's check; another datacenter's instances with the tag make the
 * route even when no local instance is left (a job stopped here). Their own passing local
 * instances take the traffic back at once.
 * A malformed tag leaves out what it concerns (the instance, or the route) with a reason
 * in `skipped`; it never fails the table. Nor does an instance the table cannot read (a
 * field of another type, from a source that did not check it): it is left out, with the
 * error as its reason.
 */
export function routingTable(snap: CatalogSnapshot, config: RouterConfig, others: DatacentersView = NO_FEDERATION): RoutingTable {
  const skipped: Skipped[] = [];
  const allEntryPoints = config.entryPoints.map((e) => e.name);
  const defaultEntryPoints = config.defaultEntryPoints.length > 0 ? config.defaultEntryPoints : allEntryPoints;
  const rules = new Map<string, ReturnType<typeof parseRule>>();
  const routes = new Map<string, Route>();
  const refused = new Set<string>();
  /** Per route, the instances failing only their node's check: its backends if none passes. */
  const standby = new Map<Route, Backend[]>();
  /** Per route, the passing instances of each other datacenter: its backends when it fails over there. */
  const remote = new Map<Route, Map<string, Backend[]>>();
  /** Per route, the failover its instances' tags ask (its own instances', else the other datacenters'). */
  const asked = new Map<Route, FailoverPolicy>();
  /** The routes with an instance of the router's own datacenter. */
  const local = new Set<Route>();
  const tlsEntryPoints = config.entryPoints.filter((e) => e.tls !== null).map((e) => e.name);
  // The nodes' addresses: an agent's API there is Ruche's own.
  const nodeHosts = new Set<string>();
  const remoteSnaps = others.datacenters.flatMap((d) => (d.snapshot === null ? [] : [{ dc: d.name, snap: d.snapshot }]));
  for (const s of [snap, ...remoteSnaps.map((r) => r.snap)]) {
    for (const inst of s.instances) {
      const a = (inst as Partial<typeof inst> | null)?.node?.Address;
      if (typeof a === "string" && a !== "") nodeHosts.add(canonicalHost(a));
    }
  }
  // Middlewares one service defines, others may use (`name@consulcatalog`), as in Traefik's catalog provider.
  const middlewareContext = {
    entryPoints: config.entryPoints.map((e) => ({ name: e.name, tls: e.tls !== null, port: e.port })),
    definitions: providerDefinitions(snap.instances.map((i) => (i as Partial<typeof i> | null)?.Tags), config.prefix, config.exposedByDefault),
  };
  const guard = guardOf(config, nodeHosts, [snap, ...remoteSnaps.map((r) => r.snap)].flatMap((s) => s.nodeApis ?? []));

  for (const inst of snap.instances) {
    const skip = (reason: string): void => {
      skipped.push({ service: String((inst as Partial<typeof inst> | null)?.Service), instance: String((inst as Partial<typeof inst> | null)?.ID), reason });
    };
    try {
      addInstance(inst, skip, null);
    } catch (err) {
      skip(`the instance cannot be read: ${errorMessage(err)}`);
    }
  }
  // Another datacenter's instances are read alike; what is left out of them is said only when they ask for failover.
  for (const { dc, snap: other } of remoteSnaps) {
    for (const inst of other.instances) {
      try {
        addInstance(inst, () => undefined, dc);
      } catch {
        // Not this datacenter's to show: its own router says it.
      }
    }
  }

  /** Adds the routes and backends one instance (of datacenter `dc`, or the router's own when null) gives, or says with `skip` why it gives none. */
  function addInstance(inst: CatalogSnapshot["instances"][number], skip: (reason: string) => void, dc: string | null): void {
    const problem = instanceProblem(inst);
    if (problem !== null) {
      skip(`the instance cannot be read: ${problem}`);
      return;
    }
    const labels = readLabels(inst.Tags, config.prefix, middlewareContext);
    if ("reason" in labels) {
      skip(labels.reason);
      return;
    }
    if (labels.enable === false) {
      skip(`${config.prefix}.enable=false`);
      return;
    }
    if (labels.enable === undefined && !config.exposedByDefault) {
      skip(`not exposed: exposedByDefault is off and there is no ${config.prefix}.enable=true tag`);
      return;
    }
    // The constraints are the catalog provider's: the KV provider's servers are not held to them.
    const failing = isKvInstance(inst) ? undefined : config.constraints.find((c) => !c.test(labels.constraintTags));
    if (failing !== undefined) {
      skip(`constraint ${failing.text} does not hold for its tags`);
      return;
    }
    const policy = labels.failover ?? config.failover;
    // Another datacenter's instance that asks for no failover is none of this router's business.
    if (dc !== null && policy.kind === "off") return;
    const passing = aggregate(inst.checks) === "passing";
    // A weight tag, else the catalog's weight of a passing instance (Consul's Weights.Passing), else 1.
    const weight = labels.weight ?? catalogWeight(inst) ?? 1;
    const nodeOnly = !passing && inst.checks.some((c) => c.CheckID === NODE_CHECK.CheckID) && aggregate(inst.checks.filter((c) => c.CheckID !== NODE_CHECK.CheckID)) === "passing";
    for (const spec of labels.routers) {
      const ruleText = spec.rule ?? renderDefaultRule(config.defaultRule, inst.Service, config.domain);
      let parsed = rules.get(`${spec.ruleSyntax} ${ruleText}`);
      if (parsed === undefined) {
        parsed = parseRule(ruleText, spec.ruleSyntax);
        rules.set(`${spec.ruleSyntax} ${ruleText}`, parsed);
      }
      const routeName = spec.name === "" ? inst.Service : spec.name;
      if (!parsed.ok) {
        skip(`route ${routeName}: rule "${ruleText}": ${parsed.reason}`);
        continue;
      }
      let entryPoints = spec.entryPoints ?? defaultEntryPoints;
      const unknown = entryPoints.find((e) => !allEntryPoints.includes(e));
      if (unknown !== undefined) {
        skip(`route ${routeName}: entrypoint "${unknown}" is not one of the router's (${allEntryPoints.join(", ")})`);
        continue;
      }
      const unimplemented = [...spec.unimplemented];
      if (spec.tls) {
        // tls=true: served on TLS entrypoints only; on none of them, refused where it would be served in the clear.
        const secure = entryPoints.filter((e) => tlsEntryPoints.includes(e));
        if (secure.length > 0) entryPoints = secure;
        else unimplemented.push(`${config.prefix}.http.routers.${spec.name}.tls=true (none of its entrypoints, ${entryPoints.join(", ")}, has TLS)`);
      }
      const port = spec.port ?? inst.Port;
      if (port <= 0) {
        skip(`route ${routeName}: the instance has no port`);
        continue;
      }
      const key = JSON.stringify([inst.Service, routeName, ruleText, [...entryPoints].sort(), spec.priority, spec.method, spec.sticky, spec.healthCheck, spec.ruleSyntax]);
      let route = routes.get(key);
      // Another datacenter's instance with what the router does not do is no backend: the route is its own instances'.
      if (dc !== null && unimplemented.length > 0) continue;
      if (route === undefined) {
        route = newRoute(routeName, inst.Service, ruleText, parsed.value, spec.priority, entryPoints, spec.method);
        route.sticky = spec.sticky === null ? null : { ...spec.sticky, name: spec.sticky.name === "" ? cookieName(inst.Service) : spec.sticky.name };
        route.healthCheck = spec.healthCheck;
        route.middlewares = spec.middlewares;
        routes.set(key, route);
      }
      if (JSON.stringify(route.middlewares) !== JSON.stringify(spec.middlewares)) {
        // Instances that put different middlewares on one route: which to apply is unsure, so none serves it.
        if (dc !== null) continue;
        unimplemented.push(`the instances of route ${routeName} give it different middlewares (instance ${inst.ID}: ${spec.middlewares.map((m) => m.name).join(", ") || "none"}; before it: ${route.middlewares.map((m) => m.name).join(", ") || "none"})`);
      }
      for (const u of unimplemented) if (!route.unimplemented.includes(u)) route.unimplemented.push(u);
      if (dc === null) local.add(route);
      if (labels.failover !== undefined && !asked.has(route) && (dc === null || !local.has(route))) asked.set(route, labels.failover);
      const address = inst.Address;
      const verdict = judgeBackend(address, port, guard);
      // The health check's own port is probed too: never Ruche's own API or the router's ports.
      const hcPort = spec.healthCheck?.port;
      const hcVerdict = hcPort === undefined || hcPort === port ? null : judgeBackend(address, hcPort, guard);
      if (hcVerdict !== null && !hcVerdict.ok) {
        skipped.push({ service: inst.Service, instance: dc === null ? inst.ID : `${inst.ID} (datacenter ${dc})`, reason: `route ${routeName}: its health check's port: ${hcVerdict.reason}`, refused: true });
        continue;
      }
      if (dc !== null) {
        // Another datacenter's: never its servers' or agents' API, whatever controlApi says.
        if (!verdict.ok) {
          skipped.push({ service: inst.Service, instance: `${inst.ID} (datacenter ${dc})`, reason: `route ${routeName}: ${verdict.reason}`, refused: true });
          continue;
        }
        if (!passing) continue;
        const byDc = remote.get(route) ?? remote.set(route, new Map()).get(route);
        const origin = `${spec.scheme}://${address.includes(":") ? `[${address}]` : address}:${port}`;
        byDc?.set(dc, [...(byDc.get(dc) ?? []), { id: inst.ID, origin, address, port, weight, datacenter: dc }]);
        continue;
      }
      if (!verdict.ok) {
        if (!verdict.api || !config.controlApi.expose) {
          if (verdict.api) refused.add(key);
          skipped.push({ service: inst.Service, instance: inst.ID, reason: `route ${routeName}: ${verdict.reason}`, refused: true });
          continue;
        }
        route.token = config.controlApi.token;
      }
      if (!passing && !nodeOnly) continue;
      const backend: Backend = { id: inst.ID, origin: `${spec.scheme}://${address.includes(":") ? `[${address}]` : address}:${port}`, address, port, weight };
      if (passing) route.backends.push(backend);
      else standby.set(route, [...(standby.get(route) ?? []), backend]);
    }
  }
  for (const key of refused) routes.delete(key);
  for (const [key, route] of routes) {
    const policy = asked.get(route) ?? config.failover;
    if (policy.kind === "off") {
      // Made by another datacenter's instances whose failover a local instance's tag turns off: not this router's.
      if (!local.has(route)) routes.delete(key);
      continue;
    }
    route.failover = { asked: policy, servedFrom: null, note: others.unavailable };
    if (route.backends.length > 0) continue;
    const order = policy.kind === "nearest" ? others.datacenters.map((d) => d.name) : policy.datacenters;
    const byDc = remote.get(route);
    for (const dc of order) {
      const there = byDc?.get(dc) ?? [];
      if (there.length === 0) continue;
      route.backends.push(...there);
      route.failover.servedFrom = dc;
      break;
    }
  }
  for (const [route, backends] of standby) if (route.backends.length === 0) route.backends.push(...backends);
  // A route asking for what the router does not do is answered 503: no backend is ever reached.
  for (const route of routes.values()) if (route.unimplemented.length > 0) route.backends = [];

  const sorted = [...routes.values()].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name) || a.rule.localeCompare(b.rule));
  for (const r of sorted) r.backends.sort((a, b) => a.id.localeCompare(b.id) || a.origin.localeCompare(b.origin));
  const entryPoints = new Map<string, EntryPointRoutes>();
  for (const ep of allEntryPoints) {
    const mine = sorted.filter((r) => r.entryPoints.includes(ep));
    const anyHost = mine.filter((r) => requiredHosts(r.matcher) === null);
    const byHost = new Map<string, Route[]>();
    for (const r of mine) for (const h of requiredHosts(r.matcher) ?? []) byHost.set(h, []);
    // Each host's list keeps the table's order, with the routes that may match any host.
    for (const [h, list] of byHost) for (const r of mine) if (requiredHosts(r.matcher)?.includes(h) ?? true) list.push(r);
    entryPoints.set(ep, { byHost, anyHost });
  }
  const datacenters = { unavailable: others.unavailable, list: others.datacenters.map((d) => ({ name: d.name, index: d.snapshot?.index ?? null, error: d.error })) };
  return { index: snap.index, routes: sorted, skipped, entryPoints, datacenters };
}

/** Whether two tables route alike: same routes, rules, entrypoints, methods, backends and weights. */
export function sameRoutes(a: RoutingTable, b: RoutingTable): boolean {
  if (a.routes.length !== b.routes.length) return false;
  const key = (t: RoutingTable): string => JSON.stringify(t.routes.map(({ matcher: _m, ...r }) => r));
  return key(a) === key(b);
}

function newRoute(name: string, service: string, rule: string, parsed: Rule, priority: number | undefined, entryPoints: string[], method: Route["method"]): Route {
  return { name, service, rule, matcher: parsed.matcher, strip: parsed.strip, priority: priority ?? rule.length, entryPoints: [...entryPoints], method, backends: [], token: null, unimplemented: [], failover: null, sticky: null, healthCheck: null, middlewares: [] };
}

/** `Host:{{name}}.{{domain}}` → `Host:web.example.com`; without a domain, `Host:web`. Also the `{{.ServiceName}}`/`{{ normalize .Name }}` spellings. */
export function renderDefaultRule(template: string, service: string, domain: string): string {
  const t = domain === "" ? template.replace(/\.\{\{\s*\.?(domain|Domain)\s*\}\}/g, "") : template;
  return t.replace(/\{\{\s*(normalize\s+)?\.?(name|Name|ServiceName|domain|Domain)\s*\}\}/g, (_m, norm: string | undefined, what: string) => {
    if (what === "domain" || what === "Domain") return domain;
    return norm === undefined ? service : service.replace(/[^a-zA-Z0-9]+/g, "-");
  });
}
