import type { StateStore } from "../state/index.js";
import { allocModeAddress, errorMessage, instanceProblem, nodeVariable, silentLogger, type Allocation, type Logger, type Node, type RegisteredService, type Service } from "../structs/index.js";
import { serviceKey } from "./registry.js";
import { nodeRowProblem, registeredRowProblem, SkippedRows } from "./rows.js";
import type { CatalogNode, CatalogReader, HealthCheck, ServiceInstance } from "./types.js";

/** Consul's name for a node's own health check: alive while the node heartbeats. */
export const NODE_CHECK = { CheckID: "serfHealth", Name: "Serf Health Status" } as const;

/**
 * The service catalog, derived from the state store: each running allocation's `service`
 * blocks are instances, on the node's address and the allocation's port, with the checks
 * the node agent runs and reports, and the node's health check. An allocation that stops
 * or whose node is lost is gone from the catalog at the same index: no failing ghosts.
 * Pure reads of the store; its index is the store's for nodes and allocations.
 *
 * A row it cannot show (a node without an address, an allocation whose job has no such
 * group, a registered service whose tags are not a list) is left out, logged once, and
 * the rest is served: every instance it hands out has the types its readers rely on
 * (`instanceProblem`), so one bad row takes down no answer of the Consul API, DNS or the
 * router.
 */
export class StoreCatalog implements CatalogReader {
  private cache: { index: number; byService: Map<string, ServiceInstance[]>; nodes: CatalogNode[]; nodeChecks: HealthCheck[] } | null = null;
  private readonly skipped: SkippedRows;
  /** Each service's last change, and what it was then (`serviceIndex`). */
  private readonly serviceSeen = new Map<string, { index: number; print: string }>();
  /** The index of a service the catalog has never had: the catalog's at its first build. */
  private serviceFloor = 0;

  constructor(
    private readonly store: StateStore,
    private readonly dc: string,
    log: Logger = silentLogger,
  ) {
    this.skipped = new SkippedRows(log);
  }

  index(): number {
    return Math.max(1, this.store.tableIndex("allocs"), this.store.tableIndex("nodes"), this.store.tableIndex("services"));
  }

  datacenter(): string {
    return this.dc;
  }

  instances(service: string): ServiceInstance[] {
    return this.build().byService.get(service) ?? [];
  }

  services(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [name, list] of this.build().byService) out[name] = [...new Set(list.flatMap((i) => i.Tags))];
    return out;
  }

  nodes(): CatalogNode[] {
    return this.build().nodes;
  }

  checks(): HealthCheck[] {
    const { byService, nodeChecks } = this.build();
    const seen = new Set(nodeChecks.map((c) => `${c.Node}\0${c.CheckID}`));
    const out = [...nodeChecks];
    for (const list of byService.values()) {
      for (const i of list) {
        for (const c of i.checks) {
          const key = `${c.Node}\0${c.CheckID}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push(c);
        }
      }
    }
    return out;
  }

  /**
   * The index of a service's last change — an instance, a check's status, a node under it,
   * added, changed or gone — as Consul's health and catalog endpoints answer a service's
   * blocking query: other services' changes leave it as it is. A change is seen when the
   * catalog is next read after it (a blocking query reads it after each commit), at the
   * catalog's index then. At the first read, each service's is the highest index of its
   * instances, checks and nodes; one never seen is the catalog's index then. Never 0, never
   * lower than before.
   */
  serviceIndex(name: string): number {
    this.build();
    return Math.max(1, this.serviceSeen.get(name)?.index ?? this.serviceFloor);
  }

  nodeApis(): readonly string[] {
    return this.store.nodes().flatMap((n) => (typeof n.HTTPAddr === "string" && n.HTTPAddr !== "" ? [n.HTTPAddr] : []));
  }

  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    await this.store.waitFor(["allocs", "nodes", "services"], minIndex, timeoutMs, signal);
    return this.index();
  }

  /** Records each service that changed since the last build at `index` (`serviceIndex`). */
  private noteServices(index: number, byService: ReadonlyMap<string, ServiceInstance[]>): void {
    const first = this.serviceFloor === 0;
    if (first) this.serviceFloor = index;
    for (const [name, list] of byService) {
      const print = servicePrint(list);
      const was = this.serviceSeen.get(name);
      if (was?.print === print) continue;
      let own = 0;
      for (const i of list) {
        own = Math.max(own, i.ModifyIndex, i.node.ModifyIndex);
        for (const c of i.checks) own = Math.max(own, c.ModifyIndex);
      }
      this.serviceSeen.set(name, { index: first ? own : index, print });
    }
    for (const [name, was] of this.serviceSeen) if (!byService.has(name) && was.print !== "") this.serviceSeen.set(name, { index, print: "" });
  }

  /** The catalog at the store's current index, made once per index. */
  private build(): NonNullable<StoreCatalog["cache"]> {
    const index = this.index();
    if (this.cache?.index === index) return this.cache;
    // An external node (`/v1/catalog/register`) has no Ruche node row and no serfHealth check.
    const nodes = new Map<string, { node: Node | undefined; cn: CatalogNode; check: HealthCheck | undefined }>();
    const skip = this.skipped;
    for (const n of this.store.nodes()) {
      if (n.Status === "down") continue;
      const problem = nodeRowProblem(n);
      if (problem !== null) {
        skip.skip("nodes", n.ID, n.ModifyIndex, problem);
        continue;
      }
      const cn: CatalogNode = { ID: n.ID, Node: n.Name, Address: n.Resources.IP, Datacenter: n.Datacenter, Meta: { ...n.Meta }, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex };
      const check: HealthCheck = {
        Node: n.Name,
        ...NODE_CHECK,
        Status: n.Status === "ready" ? "passing" : "critical",
        Notes: "",
        Output: n.Status === "ready" ? "Agent alive and reachable" : `Agent not live or unreachable (${n.Status})`,
        ServiceID: "",
        ServiceName: "",
        ServiceTags: [],
        Type: "",
        CreateIndex: n.CreateIndex,
        ModifyIndex: n.ModifyIndex,
      };
      nodes.set(n.ID, { node: n, cn, check });
    }
    const rows = this.store.registeredServices();
    // A node a registration through /v1/catalog/register names that no Ruche agent runs (an external service's): no serfHealth.
    for (const r of rows) {
      const x = r.ExternalNode;
      if (x === undefined || nodes.has(r.NodeID) || registeredRowProblem(r) !== null) continue;
      const cn: CatalogNode = { ID: "", Node: x.Node, Address: x.Address, Datacenter: x.Datacenter === "" ? this.dc : x.Datacenter, Meta: { ...x.Meta }, TaggedAddresses: { ...x.TaggedAddresses }, CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex };
      nodes.set(r.NodeID, { node: undefined, cn, check: undefined });
    }
    // Rows that are not services: a node's own checks (Consul's node-level checks and `_node_maintenance`), shown after its serfHealth.
    const nodeLevel = new Map<string, HealthCheck[]>();
    const registered: RegisteredService[] = [];
    for (const r of rows) {
      if (r.NodeLevel !== true || registeredRowProblem(r) !== null) {
        registered.push(r);
        continue;
      }
      const n = nodes.get(r.NodeID);
      // By the node's name: an external node's CatalogNode has no ID.
      if (n !== undefined) nodeLevel.set(n.cn.Node, registeredChecks(r, n.cn));
    }
    const withNodeLevel = (inst: ServiceInstance): ServiceInstance => {
      const extra = nodeLevel.get(inst.node.Node);
      if (extra === undefined || extra.length === 0) return inst;
      const first = inst.checks[0];
      return first !== undefined && first.ServiceID === "" ? { ...inst, checks: [first, ...extra, ...inst.checks.slice(1)] } : { ...inst, checks: [...extra, ...inst.checks] };
    };
    const byService = new Map<string, ServiceInstance[]>();
    for (const a of this.store.allocs()) {
      // Running, or unknown on a node gone silent: listed with its last reported checks and
      // the node's critical check, as Consul shows a service on a failed node.
      if (a.DesiredStatus !== "run" || (a.ClientStatus !== "running" && a.ClientStatus !== "unknown")) continue;
      const n = nodes.get(a.NodeID);
      if (n?.node === undefined || n.check === undefined) continue;
      const { node, check } = n;
      // An allocation's instances are shown all together or not at all.
      const shown = checked(() => allocInstances(a, n.cn, check, node));
      if ("problem" in shown) skip.skip("allocs", a.ID, a.ModifyIndex, shown.problem);
      else for (const inst of shown.instances) add(byService, withNodeLevel(inst));
    }
    for (const r of registered) {
      const problem = registeredRowProblem(r);
      const shown =
        problem !== null
          ? { problem }
          : checked(() => {
              const n = nodes.get(r.NodeID);
              return [registeredInstance(r, n?.cn ?? { ID: r.NodeID, Node: "ruche", Address: r.Address, Datacenter: this.dc, Meta: {}, CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex }, n?.check)];
            });
      if ("problem" in shown) skip.skip("services", serviceKey(r.NodeID, r.ID), r.ModifyIndex, shown.problem);
      else for (const inst of shown.instances) add(byService, withNodeLevel(inst));
    }
    skip.done();
    for (const list of byService.values()) list.sort((x, y) => x.ID.localeCompare(y.ID));
    this.noteServices(index, byService);
    const sorted = [...nodes.values()].sort((x, y) => x.cn.Node.localeCompare(y.cn.Node));
    this.cache = { index, byService, nodes: sorted.map((x) => x.cn), nodeChecks: sorted.flatMap((x) => [...(x.check === undefined ? [] : [x.check]), ...(nodeLevel.get(x.cn.Node) ?? [])]) };
    return this.cache;
  }
}

/** What a service shows, to tell whether it changed: its instances with their checks and nodes. */
function servicePrint(list: readonly ServiceInstance[]): string {
  return JSON.stringify(list);
}

function add(byService: Map<string, ServiceInstance[]>, inst: ServiceInstance): void {
  const list = byService.get(inst.Service);
  if (list === undefined) byService.set(inst.Service, [inst]);
  else list.push(inst);
}

/** The instances a row gives, each checked (`instanceProblem`), or what is wrong with them: what made one fail, or the first malformed one. */
function checked(make: () => ServiceInstance[]): { instances: ServiceInstance[] } | { problem: string } {
  let instances: ServiceInstance[];
  try {
    instances = make();
  } catch (err) {
    return { problem: errorMessage(err) };
  }
  for (const inst of instances) {
    const problem = instanceProblem(inst);
    if (problem !== null) return { problem: `instance ${typeof inst.ID === "string" ? inst.ID : "?"}: ${problem}` };
  }
  return { instances };
}

/** The instances of a running allocation's `service` blocks, its group's and its tasks'. */
function allocInstances(a: Allocation, node: CatalogNode, nodeCheck: HealthCheck, full: Node): ServiceInstance[] {
  const tg = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup);
  if (tg === undefined) return [];
  const services: { s: Service; task: string }[] = [...tg.Services.map((s) => ({ s, task: s.TaskName })), ...tg.Tasks.flatMap((t) => t.Services.map((s) => ({ s, task: t.Name })))];
  // address_mode "alloc" ("alloc_ipv6") needs the allocation's own address (a CNI network's): until its node reports one, Nomad registers nothing either.
  return services.filter(({ s }) => (s.AddressMode !== "alloc" && s.AddressMode !== "alloc_ipv6") || allocModeAddress(s.AddressMode, a.NetworkStatus) !== "").map(({ s, task }) => instanceOf(a, s, task, node, nodeCheck, full));
}

function instanceOf(a: Allocation, s: Service, task: string, node: CatalogNode, nodeCheck: HealthCheck, full: Node): ServiceInstance {
  const ports = a.Resources.Networks.flatMap((net) => [...net.ReservedPorts, ...net.DynamicPorts].map((p) => ({ label: p.Label, value: p.Value, to: p.To, ip: p.HostIP ?? net.IP })));
  const p = ports.find((x) => x.label === s.PortLabel);
  const allocAddress = allocModeAddress(s.AddressMode, a.NetworkStatus);
  // Nomad's `GetAddress` in mode alloc: the allocation's own address, on the port inside it (`to`, else the host port).
  const allocPort = p === undefined ? undefined : p.to > 0 ? p.to : p.value;
  const port = (allocAddress !== "" ? allocPort : p?.value) ?? (/^\d+$/.test(s.PortLabel) ? Number(s.PortLabel) : 0);
  // Nomad's `GetAddress` in mode auto: a custom address wins, on the port the label maps to.
  const custom = s.Address === undefined || s.Address === "" ? "" : customAddress(s.Address, full, ports);
  const address = allocAddress !== "" ? allocAddress : custom !== "" ? custom : p?.ip !== undefined && p.ip !== "" ? p.ip : node.Address;
  // Nomad's service ID (`MakeAllocServiceID`): log shippers and dashboards keyed on it find it here too.
  const id = `_nomad-task-${a.ID}-${task === "" ? `group-${a.TaskGroup}` : task}-${s.Name}-${s.PortLabel}`;
  const tags = a.DeploymentStatus?.Canary === true && s.CanaryTags.length > 0 ? s.CanaryTags : s.Tags;
  const reported = a.Checks ?? [];
  const checks: HealthCheck[] = [
    nodeCheck,
    ...s.Checks.map((c, i): HealthCheck => {
      const r = reported.find((x) => x.Service === s.Name && x.Name === c.Name && (x.Task === task || task === ""));
      return {
        Node: node.Node,
        CheckID: `${id}-check-${i}`,
        Name: c.Name === "" ? `service: "${s.Name}" check` : c.Name,
        Status: r?.Status ?? (c.InitialStatus === "passing" || c.InitialStatus === "warning" ? c.InitialStatus : "critical"),
        Notes: "",
        Output: r?.Output ?? "",
        ServiceID: id,
        ServiceName: s.Name,
        ServiceTags: tags,
        Type: c.Type,
        CreateIndex: a.CreateIndex,
        ModifyIndex: a.ModifyIndex,
      };
    }),
  ];
  return { ID: id, Service: s.Name, Tags: [...tags], Address: address, Port: port, Meta: { ...s.Meta }, node, checks, alloc: { ID: a.ID, JobID: a.JobID, Namespace: a.Namespace }, CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex };
}

/**
 * A service's custom address read as Nomad's taskenv reads it (`ReplaceEnv`): the node's
 * `${attr.*}`, `${node.*}`, `${meta.*}`, and the allocation's `${NOMAD_IP_<label>}`,
 * `${NOMAD_HOST_IP_<label>}`, `${NOMAD_ALLOC_IP_<label>}`; what is not known stays as written.
 */
export function customAddress(raw: string, node: Node, ports: readonly { label: string; ip: string }[]): string {
  return raw.replace(/\$\{([^}]+)\}/g, (whole, ref: string) => {
    const name = ref.trim();
    const ip = /^NOMAD_(?:HOST_|ALLOC_)?IP_(.+)$/.exec(name)?.[1];
    if (ip !== undefined) {
      const p = ports.find((x) => x.label === ip || x.label.replace(/[^A-Za-z0-9_]/g, "_") === ip);
      return p === undefined ? whole : p.ip !== "" ? p.ip : node.Resources.IP;
    }
    return nodeVariable(name, node) ?? whole;
  });
}

/** A registered row's checks as the catalog shows them: a service's, or a node's own (ServiceID "") for a node-level row. */
function registeredChecks(r: RegisteredService, node: CatalogNode): HealthCheck[] {
  const own = r.NodeLevel !== true;
  return r.Checks.map((c) => ({
    Node: node.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes ?? "",
    Output: c.Output,
    ServiceID: own ? r.ID : "",
    ServiceName: own ? r.Name : "",
    ServiceTags: own ? r.Tags : [],
    Type: c.Type === "external" ? "" : c.Type,
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  }));
}

/** A service registered directly: its own checks, with the status they last had, after its node's. */
function registeredInstance(r: RegisteredService, node: CatalogNode, nodeCheck: HealthCheck | undefined): ServiceInstance {
  const checks = registeredChecks(r, node);
  return {
    ID: r.ID,
    Service: r.Name,
    Tags: [...r.Tags],
    Address: r.Address === "" ? node.Address : r.Address,
    Port: r.Port,
    Meta: { ...r.Meta },
    node,
    checks: nodeCheck === undefined ? checks : [nodeCheck, ...checks],
    ...(r.Details === undefined ? {} : { details: r.Details }),
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  };
}
