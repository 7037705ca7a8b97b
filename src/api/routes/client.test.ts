import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceRegistry, type RegisteredService } from "../../catalog/index.js";
import { Server } from "../../server/index.js";
import { memoryBackend, StateStore } from "../../state/index.js";
import { mock, silentLogger } from "../../structs/index.js";
import { startApi, type RunningHttp } from "../index.js";

/** `PUT /v1/client/register` over real HTTP on 127.0.0.1, port 0, with a server on a memory store. */
let store: StateStore;
let server: Server;
let http: RunningHttp;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
});

afterAll(async () => {
  await http.close();
  await server.stop();
});

async function register(body: unknown): Promise<{ status: number; json: { error?: { code: string; message: string; path?: string; details?: string[] } } }> {
  const res = await fetch(`http://${http.address}/v1/client/register`, { method: "PUT", body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string; path?: string; details?: string[] } } };
}

/**
 * A node as Nomad's API spells it (`api.Node`, `nomad node status -json`): its legacy
 * `Resources` with `Networks`, `NodeResources`, `Drivers` with `UpdateTime`, `Links`,
 * `HostVolumes`, CSI plugins — fields Ruche does not fill — with Ruche's secret added.
 */
function nomadNode(id: string): Record<string, unknown> {
  return {
    ID: id,
    SecretID: "5c3f4f6e-2b8e-4a4e-9d2a-6f1d1c0d9e11",
    Datacenter: "dc1",
    Name: `nomad-${id.slice(0, 8)}`,
    HTTPAddr: "10.0.0.5:4646",
    TLSEnabled: false,
    Attributes: { "kernel.name": "linux", "cpu.arch": "amd64", "cpu.numcores": "4", "unique.hostname": "nomad-client-1" },
    Resources: { CPU: 8000, MemoryMB: 15_000, DiskMB: 50_000, IOPS: 0, Networks: [{ Device: "eth0", CIDR: "10.0.0.5/32", IP: "10.0.0.5", MBits: 1000 }] },
    Reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, IOPS: 0, Networks: null },
    NodeResources: {
      Cpu: { CpuShares: 8000, TotalCpuCores: 4, ReservableCpuCores: [0, 1, 2, 3] },
      Memory: { MemoryMB: 15_000 },
      Disk: { DiskMB: 50_000 },
      Networks: [{ Mode: "host", Device: "eth0", CIDR: "10.0.0.5/32", IP: "10.0.0.5", MBits: 1000 }],
      Devices: null,
      MinDynamicPort: 20_000,
      MaxDynamicPort: 32_000,
    },
    ReservedResources: { Cpu: { CpuShares: 0 }, Memory: { MemoryMB: 0 }, Disk: { DiskMB: 0 }, Networks: { ReservedHostPorts: "" } },
    Links: { consul: "dc1.nomad-client-1" },
    Meta: { "connect.log_level": "info" },
    NodeClass: "",
    NodePool: "default",
    CgroupParent: "/nomad",
    Drain: false,
    DrainStrategy: null,
    SchedulingEligibility: "eligible",
    Status: "ready",
    StatusDescription: "",
    StatusUpdatedAt: 1_700_000_000,
    Events: [{ Message: "Node registered", Subsystem: "Cluster", Details: null, Timestamp: "2023-11-14T22:13:20Z", CreateIndex: 0 }],
    Drivers: { docker: { Attributes: { "driver.docker": "true", "driver.docker.version": "24.0.5" }, Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: "2023-11-14T22:13:20Z" } },
    HostVolumes: null,
    HostNetworks: null,
    CSIControllerPlugins: null,
    CSINodePlugins: null,
    LastDrain: null,
    CreateIndex: 10,
    ModifyIndex: 20,
  };
}

describe("PUT /v1/client/register", () => {
  it("refuses a node in Nomad's shape whose fields Ruche reads are missing or of another type, naming each field, and writes nothing", async () => {
    const before = store.index;
    const cases: { node: Record<string, unknown>; path: string; says: RegExp }[] = [
      // Nomad's legacy Resources has no address, cores or dynamic port range: Ruche's node does.
      { node: nomadNode("a1b2c3d4-0000-4000-8000-000000000001"), path: "Node.Resources.IP", says: /required/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000002"), Resources: null }, path: "Node.Resources", says: /required/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000003"), Resources: { ...mock.node().Resources, IP: 10 } }, path: "Node.Resources.IP", says: /must be a string/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000004"), Resources: mock.node().Resources, Attributes: "linux" }, path: "Node.Attributes", says: /must be an object/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000005"), Resources: mock.node().Resources, Attributes: { "cpu.numcores": 4 } }, path: 'Node.Attributes["cpu.numcores"]', says: /must be a string/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000006"), Resources: mock.node().Resources, Drivers: { docker: { Detected: "true", Healthy: true } } }, path: "Node.Drivers.docker.Detected", says: /must be a boolean/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000007"), Resources: mock.node().Resources, Drivers: { docker: null } }, path: "Node.Drivers.docker", says: /must be an object/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000008"), Resources: mock.node().Resources, Meta: ["a"] }, path: "Node.Meta", says: /must be an object/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000009"), Resources: mock.node().Resources, Datacenter: null }, path: "Node.Datacenter", says: /required/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000010"), Resources: mock.node().Resources, Attributes: {} }, path: "Node.Attributes", says: /at least one/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000011"), Resources: { ...mock.node().Resources, MaxDynamicPort: 70_000 } }, path: "Node.Resources.MaxDynamicPort", says: /port/ },
      { node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000012"), Resources: mock.node().Resources, SchedulingEligibility: 1 }, path: "Node.SchedulingEligibility", says: /must be a string/ },
    ];
    for (const c of cases) {
      const r = await register({ Node: c.node });
      expect(r.status, c.path).toBe(400);
      expect(r.json.error?.code).toBe("RUCHE_BAD_REQUEST");
      expect(r.json.error?.path).toBe(c.path);
      expect(r.json.error?.message).toContain(c.path);
      expect(r.json.error?.details?.find((d) => d.startsWith(`${c.path}:`))).toMatch(c.says);
    }
    expect(store.nodes()).toEqual([]);
    expect(store.index).toBe(before);
  });

  it("names every field at fault, not only the first", async () => {
    const r = await register({ Node: { ...nomadNode("a1b2c3d4-0000-4000-8000-000000000020"), Name: 7, Meta: { role: null } } });
    expect(r.status).toBe(400);
    expect(r.json.error?.details).toEqual(expect.arrayContaining(["Node.Name: must be a string", 'Node.Meta.role: must be a string', expect.stringMatching(/^Node\.Resources\.IP: /)]));
    expect(store.nodes()).toEqual([]);
  });

  it("accepts Nomad's shape once Ruche's fields are there: unknown fields are ignored and not stored, nulls read as empty", async () => {
    const id = "a1b2c3d4-0000-4000-8000-000000000030";
    const body = { ...nomadNode(id), Resources: { ...mock.node().Resources, IP: "10.0.0.5" }, Meta: null, Reserved: null, NodeClass: null };
    const r = await register({ Node: body });
    expect(r.status).toBe(200);
    const n = store.node(id);
    expect(n?.Resources.IP).toBe("10.0.0.5");
    expect(n?.Meta).toEqual({});
    expect(n?.NodeClass).toBe("");
    expect(n?.Reserved).toEqual({ CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" });
    expect(n?.Drivers.docker).toEqual({ Detected: true, Healthy: true, HealthDescription: "Healthy", Attributes: { "driver.docker": "true", "driver.docker.version": "24.0.5" } });
    expect(n).not.toHaveProperty("NodeResources");
    expect(n).not.toHaveProperty("Links");
    expect(n?.Status).toBe("ready");
  });
});

describe("PUT /v1/client/checks/:id: a node's probes of the checks registered directly on it", () => {
  it("sets the statuses of that node's checks with its secret; another secret, a check of another node or a bad status changes nothing", async () => {
    const node = mock.node({ name: "probing" });
    const other = mock.node({ name: "elsewhere" });
    await server.registerNode(node);
    await server.registerNode(other);
    const registry = new ServiceRegistry(store, Date.now);
    const check = (id: string, nodeId: string): RegisteredService => ({ ID: id, Name: "web", Tags: [], Address: "", Port: 80, Meta: {}, NodeID: nodeId, Checks: [{ CheckID: `service:${id}`, Name: "http", Type: "http", HTTP: "http://127.0.0.1:1/", Method: "", TCP: "", Args: [], Interval: 10e9, Timeout: 1e9, TTL: 0, DeregisterCriticalServiceAfter: 0, SuccessBeforePassing: 0, FailuresBeforeCritical: 0, Status: "critical", Output: "", StatusTime: 0 }], CreateIndex: 0, ModifyIndex: 0 });
    await registry.register(check("web-1", node.ID));
    await registry.register(check("web-2", other.ID));
    const put = (secret: string, checks: unknown): Promise<Response> => fetch(`http://${http.address}/v1/client/checks/${node.ID}`, { method: "PUT", headers: { "x-ruche-node-secret": secret }, body: JSON.stringify({ Checks: checks }) });
    const status = (id: string, nodeId: string): string | undefined => registry.get(nodeId, id)?.Checks[0]?.Status;
    expect((await put("wrong", [{ CheckID: "service:web-1", Status: "passing", Output: "" }])).status).toBe(403);
    expect((await put(node.SecretID, [{ CheckID: "service:web-1", Status: "fine" }])).status).toBe(400);
    expect(status("web-1", node.ID)).toBe("critical");
    const ok = await put(node.SecretID, [{ CheckID: "service:web-1", Status: "passing", Output: "HTTP GET: 200 OK" }, { CheckID: "service:web-2", Status: "passing", Output: "" }]);
    expect(ok.status).toBe(200);
    expect(registry.get(node.ID, "web-1")?.Checks[0]).toMatchObject({ Status: "passing", Output: "HTTP GET: 200 OK" });
    expect(status("web-2", other.ID)).toBe("critical");
  });
});
