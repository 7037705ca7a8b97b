import { createHash } from "node:crypto";
import type { CatalogReader, ServiceRegistry } from "../../catalog/index.js";
import {
  ALL_NAMESPACES,
  AclPrefixKind,
  ErrorCode,
  instanceNamespace,
  NamespaceCap,
  RucheError,
  serviceRegistrationOf,
  type Acl,
  type ServiceInstance,
  type ServiceRegistration,
  type ServiceRegistrationListStub,
} from "../../structs/index.js";
import { blockingParams, type Request, type Router } from "../http.js";
import { queryNamespace } from "../namespace.js";

/**
 * Nomad's native service discovery over Ruche's one catalog (`command/agent/
 * service_registration_endpoint.go`): `GET /v1/services` (per namespace, each service's name
 * and its instances' tags), `GET /v1/service/:name` (its instances as `ServiceRegistration`s;
 * `?choose=N|key` picks N by Nomad's rendezvous hashing), `DELETE /v1/service/:name/:id`.
 * Services of `provider = "nomad"` and `provider = "consul"` alike are listed, as Consul's
 * view lists both. Reads take blocking queries on the catalog's index.
 *
 * Who may read: a token with `read-job` in the namespace (Nomad's rule), or one that may read
 * the service by Consul's rules (a workload identity reads every service). Deleting takes
 * `submit-job`; an allocation's instance is the allocation's as long as it runs (stop the
 * allocation), so only a service registered directly can be deleted here.
 */
export function nomadServiceRoutes(r: Router, catalog: CatalogReader, registry: ServiceRegistry | undefined): void {
  const wait = async (req: Request): Promise<number> => {
    const b = blockingParams(req.query);
    return b === null ? catalog.index() : Math.max(1, await catalog.wait(b.index, b.waitMs, req.signal));
  };
  const mayRead = (acl: Acl, ns: string, service: string): boolean => acl.namespace(ns, NamespaceCap.ReadJob) || acl.prefix(AclPrefixKind.Service, service, "read");
  const inNamespace = (req: Request, i: ServiceInstance): boolean => {
    const ns = queryNamespace(req);
    return (ns === ALL_NAMESPACES || instanceNamespace(i) === ns) && mayRead(req.acl, instanceNamespace(i), i.Service);
  };

  r.get("/v1/services", async (req) => {
    const index = await wait(req);
    const byNs = new Map<string, Map<string, Set<string>>>();
    for (const name of Object.keys(catalog.services()).sort()) {
      for (const i of catalog.instances(name)) {
        if (!inNamespace(req, i)) continue;
        const ns = instanceNamespace(i);
        let services = byNs.get(ns);
        if (services === undefined) byNs.set(ns, (services = new Map<string, Set<string>>()));
        let tags = services.get(name);
        if (tags === undefined) services.set(name, (tags = new Set<string>()));
        for (const t of i.Tags) tags.add(t);
      }
    }
    const body: ServiceRegistrationListStub[] = [...byNs.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([Namespace, services]) => ({ Namespace, Services: [...services.entries()].map(([ServiceName, tags]) => ({ ServiceName, Tags: [...tags] })) }));
    return { body, index };
  });

  r.get("/v1/service/:name", async (req) => {
    const name = req.params.name ?? "";
    if (name === "") throw new RucheError(ErrorCode.BadRequest, "missing service name", { path: "name" });
    const choose = req.query.get("choose");
    const index = await wait(req);
    const all = catalog.instances(name).filter((i) => inNamespace(req, i)).map(serviceRegistrationOf);
    return { body: choose === null || choose === "" ? all : chooseServices(all, choose), index };
  });

  r.delete("/v1/service/:name/:id", async (req) => {
    const name = req.params.name ?? "";
    const id = req.params.id ?? "";
    if (id === "") throw new RucheError(ErrorCode.BadRequest, "missing service id", { path: "id" });
    const ns = queryNamespace(req);
    if (!req.acl.namespace(ns, NamespaceCap.SubmitJob)) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
    const inst = catalog.instances(name).find((i) => i.ID === id && instanceNamespace(i) === ns);
    if (inst === undefined) throw new RucheError(ErrorCode.NotFound, `service registration not found: ${id}`, { path: "id" });
    if (inst.alloc !== undefined) {
      throw new RucheError(ErrorCode.BadRequest, `service ${id} is the service block of running allocation ${inst.alloc.ID} (job ${inst.alloc.JobID}): it leaves the catalog when the allocation stops (ruche alloc stop ${inst.alloc.ID.slice(0, 8)})`, { path: "id" });
    }
    if (registry === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent registers no services directly", { path: "id" });
    await registry.deregister(inst.node.ID, id);
    // Nomad answers a delete with its index and no body.
    return { body: "", index: catalog.index(), headers: { "content-type": "text/plain; charset=utf-8" } };
  });
}

/**
 * `?choose=N|key`: N of the instances, the same ones for the same key while they stand
 * (Nomad's rendezvous hashing: each instance's `HashWith(key)`, lowest first).
 */
export function chooseServices(services: readonly ServiceRegistration[], parameter: string): ServiceRegistration[] {
  const bar = parameter.indexOf("|");
  const n = bar < 0 ? NaN : Number(parameter.slice(0, bar));
  const key = bar < 0 ? "" : parameter.slice(bar + 1);
  if (!Number.isInteger(n) || !/^-?\d+$/.test(parameter.slice(0, bar)) || key === "") throw new RucheError(ErrorCode.BadRequest, "Parameter for choose must be in form '<number>|<key>'", { path: "choose" });
  return services
    .map((s) => ({ s, h: hashWith(s, key) }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .slice(0, Math.max(0, Math.min(n, services.length)))
    .map((x) => x.s);
}

/** Nomad's `ServiceRegistration.HashWith`: SHA-256 of the port (8 bytes, big-endian), the alloc, ID, namespace, address, name, tags and key; hex. */
function hashWith(s: ServiceRegistration, key: string): string {
  const port = Buffer.alloc(8);
  port.writeBigUInt64BE(BigInt.asUintN(64, BigInt(s.Port)));
  const h = createHash("sha256").update(port).update(s.AllocID).update(s.ID).update(s.Namespace).update(s.Address).update(s.ServiceName);
  for (const t of s.Tags) h.update(t);
  return h.update(key).digest("hex");
}
