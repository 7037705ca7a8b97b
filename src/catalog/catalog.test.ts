/**
 * The catalog as Consul clients read it: the Consul-compatible routes over a state store
 * (memory backend), on real HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consulRoutes } from "../api/routes/consul.js";
import { Router, startHttp, type RunningHttp } from "../api/http.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, NS, silentLogger, type Allocation, type Job, type Node, type RegisteredCheck, type RegisteredService } from "../structs/index.js";
import { customAddress, StoreCatalog } from "./catalog.js";
import { NODE_CHECKS_ID, ServiceRegistry } from "./registry.js";

let store: StateStore;
let http: RunningHttp;
let base = "";
let node: Node;
let job: Job;

function alloc(i: number, checks: Allocation["Checks"] = []): Allocation {
  return {
    ...mock.alloc(job, node, i, {
      ClientStatus: "running",
      Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "host", MBits: 0, IP: "10.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 20000 + i, To: 20000 + i, HostNetwork: "" }] }] },
    }),
    Checks: checks,
  };
}

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  node = mock.node({ name: "n1", datacenter: "dc1" });
  job = mock.job({ id: "web" });
  const t = job.TaskGroups[0]!.Tasks[0]!;
  t.Services = [
    {
      Name: "web",
      PortLabel: "http",
      AddressMode: "auto",
      Tags: ["v1", "public"],
      CanaryTags: [],
      Meta: { owner: "ops" },
      TaskName: "",
      Checks: [{ Name: "alive", Type: "http", Command: "", Args: [], Path: "/", Method: "", Protocol: "", Header: {}, PortLabel: "", AddressMode: "host", Interval: NS.second, Timeout: NS.second, InitialStatus: "", TaskName: "", SuccessBeforePassing: 0, FailuresBeforeCritical: 0, TLSSkipVerify: false }],
    },
  ];
  await store.write((tx) => {
    tx.put("nodes", node);
  });
  const router = new Router();
  consulRoutes(router, { catalog: new StoreCatalog(store, "dc1"), localNode: () => node.ID, version: "1.17.0" });
  http = await startHttp({ host: "127.0.0.1", port: 0, router, authorize: () => undefined, log: silentLogger });
  base = `http://${http.address}`;
});

afterEach(async () => {
  await http.close();
  await store.close();
});

const passing = (task = "web"): Allocation["Checks"] => [{ Service: "web", Name: "alive", Task: task, Status: "passing", Output: "HTTP GET: 200 OK" }];

async function get(path: string): Promise<{ status: number; index: number; body: unknown }> {
  const r = await fetch(base + path);
  const text = await r.text();
  return { status: r.status, index: Number(r.headers.get("x-consul-index")), body: r.headers.get("content-type")?.includes("json") === true ? JSON.parse(text) : text };
}

describe("the Consul-compatible catalog", () => {
  it("registers a service with a custom address there, on its port as usual, its node's attributes read (Nomad's address)", async () => {
    node.Attributes["unique.network.ip-address"] = "192.0.2.7";
    await store.write((tx) => {
      tx.put("nodes", node);
    });
    const svc = job.TaskGroups[0]!.Tasks[0]!.Services[0]!;
    svc.Address = "${attr.unique.network.ip-address}";
    const a = alloc(0, passing());
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    const [entry] = (await get("/v1/catalog/service/web")).body as Record<string, unknown>[];
    expect(entry).toMatchObject({ ServiceAddress: "192.0.2.7", ServicePort: 20000, Address: "10.0.0.1" });
    const catalog = new StoreCatalog(store, "dc1");
    expect(catalog.instances("web").map((i) => [i.Address, i.Port])).toEqual([["192.0.2.7", 20000]]);
    expect(customAddress("${NOMAD_IP_http}:${meta.rack}/${attr.nope}", { ...node, Meta: { rack: "r1" } }, [{ label: "http", ip: "10.0.0.1" }])).toBe("10.0.0.1:r1/${attr.nope}");
  });

  it("lists a running allocation's service with Consul's fields, and its health with the node check first", async () => {
    const a = alloc(0, passing());
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    const services = await get("/v1/catalog/services");
    expect(services.body).toEqual({ web: ["v1", "public"] });
    expect(services.index).toBeGreaterThan(0);
    const [entry] = (await get("/v1/catalog/service/web")).body as Record<string, unknown>[];
    expect(entry).toMatchObject({ Node: "n1", Datacenter: "dc1", ServiceName: "web", ServiceTags: ["v1", "public"], ServiceAddress: "10.0.0.1", ServicePort: 20000, ServiceMeta: { owner: "ops" } });
    expect(entry?.ServiceID).toBe(`_nomad-task-${a.ID}-web-web-http`);
    const [h] = (await get("/v1/health/service/web?passing")).body as { Checks: { CheckID: string; Status: string }[] }[];
    expect(h?.Checks.map((c) => [c.CheckID, c.Status])).toEqual([
      ["serfHealth", "passing"],
      [`_nomad-task-${a.ID}-web-web-http-check-0`, "passing"],
    ]);
  });

  it("?passing leaves out an instance whose check is not passing yet; ?tag filters", async () => {
    await store.write((tx) => {
      tx.put("allocs", alloc(0, passing()));
      tx.put("allocs", alloc(1));
    });
    expect((await get("/v1/health/service/web")).body).toHaveLength(2);
    expect((await get("/v1/health/service/web?passing")).body).toHaveLength(1);
    expect((await get("/v1/health/state/critical")).body).toHaveLength(1);
    expect((await get("/v1/catalog/service/web?tag=public")).body).toHaveLength(2);
    expect((await get("/v1/catalog/service/web?tag=nope")).body).toEqual([]);
  });

  it("an instance leaves at once when its allocation stops or its node goes down", async () => {
    const a = alloc(0, passing());
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    await store.write((tx) => {
      tx.put("allocs", { ...a, DesiredStatus: "stop" });
    });
    expect((await get("/v1/health/service/web")).body).toEqual([]);
    await store.write((tx) => {
      tx.put("allocs", alloc(1, passing()));
      tx.put("nodes", { ...node, Status: "down" });
    });
    expect((await get("/v1/health/service/web")).body).toEqual([]);
    expect((await get("/v1/catalog/nodes")).body).toEqual([]);
  });

  it("an unknown allocation on a disconnected node is listed with its last checks and the node's critical check, not as passing", async () => {
    const a = alloc(0, passing());
    await store.write((tx) => {
      tx.put("allocs", { ...a, ClientStatus: "unknown" });
      tx.put("nodes", { ...node, Status: "disconnected" });
    });
    const [h] = (await get("/v1/health/service/web")).body as { Checks: { CheckID: string; Status: string }[] }[];
    expect(h?.Checks.map((c) => [c.CheckID, c.Status])).toEqual([
      ["serfHealth", "critical"],
      [`_nomad-task-${a.ID}-web-web-http-check-0`, "passing"],
    ]);
    expect((await get("/v1/health/service/web?passing")).body).toEqual([]);
  });

  it("answers a blocking query when the service changes, with a higher X-Consul-Index", async () => {
    const first = await get("/v1/health/service/web");
    const waiting = get(`/v1/health/service/web?index=${first.index}&wait=5s`);
    await expect.poll(() => store.blockingQueries("allocs")).toBe(1);
    await store.write((tx) => {
      tx.put("allocs", alloc(0, passing()));
    });
    const next = await waiting;
    expect(next.index).toBeGreaterThan(first.index);
    expect(next.body).toHaveLength(1);
  });

  it("answers every blocking query one change wakes with that change, each its own question, and the next change anew", async () => {
    const first = await get("/v1/health/service/web?passing");
    const woken = Promise.all([
      ...Array.from({ length: 20 }, () => get(`/v1/health/service/web?index=${first.index}&wait=5s&passing`)),
      get(`/v1/health/service/web?index=${first.index}&wait=5s&tag=nope`),
    ]);
    await expect.poll(() => store.blockingQueries("allocs")).toBe(21);
    const a = alloc(0, passing());
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    const answers = await woken;
    expect(answers.pop()?.body).toEqual([]);
    for (const answer of answers) {
      expect(answer.index).toBeGreaterThan(first.index);
      expect(answer.body).toHaveLength(1);
    }
    await store.write((tx) => {
      tx.put("allocs", { ...a, Checks: [{ Service: "web", Name: "alive", Task: "web", Status: "critical", Output: "HTTP GET: 503" }] });
    });
    expect((await get("/v1/health/service/web?passing")).body).toEqual([]);
  });

  it("shows the local agent's services and checks", async () => {
    await store.write((tx) => {
      tx.put("allocs", alloc(0, passing()));
    });
    const svc = (await get("/v1/agent/services")).body as Record<string, { Service: string; Port: number }>;
    expect(Object.values(svc)).toEqual([expect.objectContaining({ Service: "web", Port: 20000 })]);
    expect(Object.keys((await get("/v1/agent/checks")).body as object)).toHaveLength(1);
    expect((await get("/v1/agent/self")).body).toMatchObject({ Config: { Datacenter: "dc1", NodeName: "n1" } });
  });
});

describe("a row the catalog cannot show", () => {
  it("is left out, logged once per version of the row, and shown again once it is fixed", async () => {
    const warned: Record<string, unknown>[] = [];
    const catalog = new StoreCatalog(store, "dc1", { ...silentLogger, warn: (f) => warned.push(f) });
    const good = alloc(0, passing());
    const bad = { ...alloc(1, passing()), Checks: [{ Service: "web", Name: "alive", Task: "web", Status: "sunny", Output: "" }] } as unknown as Allocation;
    const other = mock.node({ name: "n2" });
    await store.write((tx) => {
      tx.put("allocs", good);
      tx.put("allocs", bad);
      tx.put("nodes", { ...other, Meta: { rack: 7 } } as unknown as Node);
    });
    expect(catalog.instances("web").map((i) => i.ID)).toEqual([`_nomad-task-${good.ID}-web-web-http`]);
    expect(catalog.nodes().map((n) => n.Node)).toEqual(["n1"]);
    expect(warned).toEqual([expect.objectContaining({ table: "nodes", key: other.ID, problem: "Meta: must map strings to strings" }), expect.objectContaining({ table: "allocs", key: bad.ID, problem: expect.stringContaining("Status: must be passing, warning or critical") as string })]);

    // Another change, and another read: the same bad rows are not logged again.
    await store.write((tx) => {
      tx.put("allocs", alloc(2, passing()));
    });
    expect(catalog.instances("web")).toHaveLength(2);
    expect(warned).toHaveLength(2);
    // The bad allocation changes and is still bad: said again. Then fixed: shown.
    await store.write((tx) => {
      tx.put("allocs", { ...bad, ClientDescription: "still" });
    });
    expect(catalog.instances("web")).toHaveLength(2);
    expect(warned).toHaveLength(3);
    await store.write((tx) => {
      tx.put("allocs", { ...bad, Checks: [{ Service: "web", Name: "alive", Task: "web", Status: "passing", Output: "" }] });
      tx.put("nodes", other);
    });
    expect(catalog.instances("web")).toHaveLength(3);
    expect(catalog.nodes().map((n) => n.Node)).toEqual(["n1", "n2"]);
    expect(warned).toHaveLength(3);
  });
});

describe("rows that are not services: a node's own checks, and external nodes", () => {
  const check = (id: string, status: "passing" | "critical", type: "ttl" | "external" | "maintenance" = "ttl"): RegisteredCheck => ({ CheckID: id, Name: id, Type: type, HTTP: "", Method: "", TCP: "", Args: [], Interval: 0, Timeout: NS.second, TTL: NS.minute, DeregisterCriticalServiceAfter: 0, SuccessBeforePassing: 0, FailuresBeforeCritical: 0, Status: status, Output: "", StatusTime: 0 });
  const row = (r: Partial<RegisteredService> & Pick<RegisteredService, "ID" | "Name" | "NodeID">): RegisteredService => ({ Tags: [], Address: "", Port: 0, Meta: {}, Checks: [], CreateIndex: 0, ModifyIndex: 0, ...r });

  it("shows a node's own checks after its serfHealth on every instance of the node, and none as a service", async () => {
    await store.write((tx) => {
      tx.put("allocs", alloc(0, [{ Service: "web", Name: "alive", Task: "t", Status: "passing", Output: "" }] as never));
      tx.put("services", row({ ID: "api-1", Name: "api", NodeID: node.ID, Port: 80 }));
      tx.put("services", row({ ID: NODE_CHECKS_ID, Name: NODE_CHECKS_ID, NodeID: node.ID, NodeLevel: true, Checks: [check("_node_maintenance", "critical", "maintenance")] }));
    });
    const c = new StoreCatalog(store, "dc1");
    expect(Object.keys(c.services()).sort()).toEqual(["api", "web"]);
    for (const name of ["api", "web"]) {
      const [i] = c.instances(name);
      expect(i?.checks.slice(0, 2).map((x) => [x.CheckID, x.ServiceID, x.Type])).toEqual([
        ["serfHealth", "", ""],
        ["_node_maintenance", "", "maintenance"],
      ]);
    }
  });

  it("lists an external node (no serfHealth, its own tagged addresses) with its service and node checks, until removed", async () => {
    const ext = { Node: "ext-db", Address: "10.9.0.1", Datacenter: "", TaggedAddresses: { lan: "10.9.0.1" }, Meta: { kind: "db" } };
    await store.write((tx) => {
      tx.put("services", row({ ID: "db-1", Name: "db", NodeID: "external:ext-db", Port: 5432, ExternalNode: ext, Checks: [check("db-alive", "passing", "external")] }));
      tx.put("services", row({ ID: NODE_CHECKS_ID, Name: NODE_CHECKS_ID, NodeID: "external:ext-db", NodeLevel: true, ExternalNode: ext, Checks: [check("ping", "passing", "external")] }));
    });
    const c = new StoreCatalog(store, "dc1");
    expect(c.nodes().find((n) => n.Node === "ext-db")).toMatchObject({ ID: "", Address: "10.9.0.1", Datacenter: "dc1", Meta: { kind: "db" }, TaggedAddresses: { lan: "10.9.0.1" } });
    const [i] = c.instances("db");
    expect(i?.Address).toBe("10.9.0.1");
    expect(i?.checks.map((x) => [x.CheckID, x.Type])).toEqual([
      ["ping", ""],
      ["db-alive", ""],
    ]);
    await new ServiceRegistry(store, () => 0).removeNode("external:ext-db");
    expect(c.nodes().some((n) => n.Node === "ext-db")).toBe(false);
    expect(c.instances("db")).toEqual([]);
  });
});
