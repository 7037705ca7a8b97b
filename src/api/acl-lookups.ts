import type { CatalogReader, KVService, ServiceInstance } from "../catalog/index.js";
import type { StateStore } from "../state/index.js";
import type { Allocation } from "../structs/index.js";
import type { AclLookups } from "./acl-routes-table.js";

/** The state a listener's ACL rules look things up in: the store (Ruche's API), the catalog and KV (Consul's routes). */
export interface LookupSources {
  store?: StateStore;
  consul?: { catalog: CatalogReader; kv: KVService; localNode(): string | undefined };
}

/** `AclLookups` over what a listener serves; what it does not serve is not found. `node`: the agent's node they look in, when not the listener's own (`forAgentNode`). */
export function aclLookups(src: LookupSources, node?: string): AclLookups {
  const instances = (): ServiceInstance[] => {
    const catalog = src.consul?.catalog;
    return catalog === undefined ? [] : Object.keys(catalog.services()).flatMap((s) => catalog.instances(s));
  };
  const local = (): string | undefined => (node === undefined ? src.consul?.localNode() : node === "" ? undefined : node);
  /** The allocation an ID names, or the one its start names; none for no match or several. */
  const allocOf = (id: string): Allocation | undefined => {
    const store = src.store;
    if (store === undefined) return undefined;
    const exact = store.alloc(id);
    if (exact !== undefined) return exact;
    const found = store.allocs().filter((a) => a.ID.startsWith(id));
    return found.length === 1 ? found[0] : undefined;
  };
  return {
    allocDrivers(allocId, task) {
      // No allocation, or a prefix of several: the route answers 404 or 400 itself.
      const a = allocOf(allocId);
      if (a === undefined) return [];
      const tasks = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks ?? [];
      return tasks.filter((t) => task === undefined || t.Name === task).map((t) => t.Driver);
    },
    serviceName(serviceId) {
      return instances().find((i) => i.ID === serviceId && i.node.ID === local())?.Service;
    },
    checkOwner(checkId) {
      for (const i of instances()) {
        const c = i.checks.find((x) => x.CheckID === checkId && i.node.ID === local());
        if (c !== undefined) return c.ServiceName !== "" ? { service: c.ServiceName } : { node: c.Node };
      }
      return undefined;
    },
    sessionNode(sessionId) {
      return src.consul?.kv.sessionInfo(sessionId)?.Node;
    },
    allocJob(allocId) {
      return allocId === "" ? undefined : allocOf(allocId)?.JobID;
    },
    namespaceOf(kind, id) {
      const store = src.store;
      if (store === undefined || id === "") return undefined;
      if (kind === "eval") return store.eval(id)?.Namespace;
      if (kind === "deployment") return store.deployment(id)?.Namespace;
      return allocOf(id)?.Namespace;
    },
    localNodeName() {
      const id = local();
      return id === undefined ? "" : (src.consul?.catalog.nodes().find((n) => n.ID === id)?.Node ?? "");
    },
    forAgentNode(other) {
      return aclLookups(src, other);
    },
  };
}
