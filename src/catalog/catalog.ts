import type { StateStore } from "../state/index.js";
import { errorMessage, instanceProblem, nodeVariable, silentLogger, type Allocation, type Logger, type Node, type RegisteredService, type Service } from "../structs/index.js";
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
  private cache: { index: number; byService: Map<string, ServiceInstance[]>; nodes: CatalogNode[] } | null = null;
  private readonly skipped: SkippedRows;

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

  nodeApis(): readonly string[] {
    return this.store.nodes().flatMap((n) => (typeof n.HTTPAddr === "string" && n.HTTPAddr !== "" ? [n.HTTPAddr] : []));
  }

  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    await this.store.waitFor(["allocs", "nodes", "services"], minIndex, timeoutMs, signal);
    return this.index();
  }

  /** The catalog at the store's current index, made once per index. */
  private build(): NonNullable<StoreCatalog["cache"]> {
    const index = this.index();
    if (this.cache?.index === index) return this.cache;
    const nodes = new Map<string, { node: Node; cn: CatalogNode; check: HealthCheck }>();
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
    const byService = new Map<string, ServiceInstance[]>();
    for (const a of this.store.allocs()) {
      // Running, or unknown on a node gone silent: listed with its last reported checks and
      // the node's critical check, as Consul shows a service on a failed node.
      if (a.DesiredStatus !== "run" || (a.ClientStatus !== "running" && a.ClientStatus !== "unknown")) continue;
      const n = nodes.get(a.NodeID);
      if (n === undefined) continue;
      // An allocation's instances are shown all together or not at all.
      const shown = checked(() => allocInstances(a, n.cn, n.check, n.node));
      if ("problem" in shown) skip.skip("allocs", a.ID, a.ModifyIndex, shown.problem);
      else for (const inst of shown.instances) add(byService, inst);
    }
    for (const r of this.store.registeredServices()) {
      const problem = registeredRowProblem(r);
      const shown =
        problem !== null
          ? { problem }
          : checked(() => {
              const n = nodes.get(r.NodeID);
              return [registeredInstance(r, n?.cn ?? { ID: r.NodeID, Node: "ruche", Address: r.Address, Datacenter: this.dc, Meta: {}, CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex }, n?.check)];
            });
      if ("problem" in shown) skip.skip("services", serviceKey(r.NodeID, r.ID), r.ModifyIndex, shown.problem);
      else for (const inst of shown.instances) add(byService, inst);
    }
    skip.done();
    for (const list of byService.values()) list.sort((x, y) => x.ID.localeCompare(y.ID));
    this.cache = { index, byService, nodes: [...nodes.values()].map((x) => x.cn).sort((x, y) => x.Node.localeCompare(y.Node)) };
    return this.cache;
  }
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
  return services.map(({ s, task }) => instanceOf(a, s, task, node, nodeCheck, full));
}

function instanceOf(a: Allocation, s: Service, task: string, node: CatalogNode, nodeCheck: HealthCheck, full: Node): ServiceInstance {
  const ports = a.Resources.Networks.flatMap((net) => [...net.ReservedPorts, ...net.DynamicPorts].map((p) => ({ label: p.Label, value: p.Value, ip: net.IP })));
  const p = ports.find((x) => x.label === s.PortLabel);
  const port = p?.value ?? (/^\d+$/.test(s.PortLabel) ? Number(s.PortLabel) : 0);
  // Nomad's `GetAddress` in mode auto: a custom address wins, on the port the label maps to.
  const custom = s.Address === undefined || s.Address === "" ? "" : customAddress(s.Address, full, ports);
  const address = custom !== "" ? custom : p?.ip !== undefined && p.ip !== "" ? p.ip : node.Address;
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

/** A service registered directly: its own checks, with the status they last had, after its node's. */
function registeredInstance(r: RegisteredService, node: CatalogNode, nodeCheck: HealthCheck | undefined): ServiceInstance {
  const checks: HealthCheck[] = r.Checks.map((c) => ({
    Node: node.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: "",
    Output: c.Output,
    ServiceID: r.ID,
    ServiceName: r.Name,
    ServiceTags: r.Tags,
    Type: c.Type,
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  }));
  return {
    ID: r.ID,
    Service: r.Name,
    Tags: [...r.Tags],
    Address: r.Address === "" ? node.Address : r.Address,
    Port: r.Port,
    Meta: { ...r.Meta },
    node,
    checks: nodeCheck === undefined ? checks : [nodeCheck, ...checks],
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  };
}
