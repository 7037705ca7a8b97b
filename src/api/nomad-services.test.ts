/**
 * Nomad's native service discovery over Ruche's catalog, on real HTTP, as Nomad's Go client
 * (`api/services.go` at hashicorp/nomad aa026cc99cfb74a77e519a1c1f0c78ba1b452705) reads it:
 * `Services.List` (`[]*ServiceRegistrationListStub`), `Services.Get` (`[]*ServiceRegistration`),
 * `Services.Delete`; fields compared one by one with those structs.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { loadAclPolicyParser, parseAclPolicy } from "../jobspec/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ALLOW_ALL, compileAcl, mock, silentLogger, workloadAcl, type Acl, type Allocation, type Job, type Node, type ServiceRegistration } from "../structs/index.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import { chooseServices, nomadServiceRoutes } from "./routes/nomad-services.js";
import { Server } from "../server/index.js";
import { startApi } from "./index.js";

/** api.ServiceRegistration's fields. */
const REGISTRATION_FIELDS = ["Address", "AllocID", "CreateIndex", "Datacenter", "ID", "JobID", "ModifyIndex", "Namespace", "NodeID", "Port", "ServiceName", "Tags"];

let store: StateStore;
let http: RunningHttp;
let base: string;
let acl: Acl;
let node: Node;

/** A job whose task has a service `name` on port label http, tags `tags`. */
function jobWith(id: string, namespace: string, name: string, tags: string[]): Job {
  const j = { ...mock.job({ id }), Namespace: namespace };
  j.TaskGroups[0]!.Tasks[0]!.Services = [{ Name: name, PortLabel: "http", AddressMode: "auto", Tags: tags, CanaryTags: [], Meta: {}, TaskName: "", Checks: [] }];
  return j;
}

function running(j: Job, i: number): Allocation {
  return mock.alloc(j, node, i, {
    ClientStatus: "running",
    Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "host", MBits: 0, IP: "10.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 21000 + i, To: 21000 + i, HostNetwork: "" }] }] },
  });
}

beforeEach(async () => {
  await loadAclPolicyParser();
  store = await StateStore.open(memoryBackend());
  acl = ALLOW_ALL;
  node = mock.node({ name: "n1", datacenter: "dc1" });
  await store.write((tx) => {
    tx.put("nodes", node);
  });
  const router = new Router();
  nomadServiceRoutes(router, new StoreCatalog(store, "dc1"), new ServiceRegistry(store, Date.now));
  http = await startHttp({
    host: "127.0.0.1",
    port: 0,
    router,
    authorize: (req) => {
      req.acl = acl;
      return undefined;
    },
    log: silentLogger,
  });
  base = `http://${http.address}`;
});

afterEach(async () => {
  await http.close();
  await store.close();
});

async function call(method: string, path: string): Promise<{ status: number; json: unknown; index: number; text: string }> {
  const res = await fetch(base + path, { method });
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), index: Number(res.headers.get("x-nomad-index")), text };
}

describe("Nomad's service discovery", () => {
  it("lists each namespace's services with their tags (api.ServiceRegistrationListStub), and an empty list when there are none", async () => {
    expect((await call("GET", "/v1/services")).json).toEqual([]);
    const web = jobWith("web", "default", "web", ["v1", "public"]);
    const api = jobWith("api", "prod", "api", ["internal"]);
    await store.write((tx) => {
      tx.put("allocs", running(web, 0));
      tx.put("allocs", { ...running(web, 1), Job: jobWith("web", "default", "web", ["v2"]) });
      tx.put("allocs", running(api, 2));
    });
    const list = await call("GET", "/v1/services");
    expect(list.status).toBe(200);
    expect(list.json).toEqual([{ Namespace: "default", Services: [{ ServiceName: "web", Tags: ["v1", "public", "v2"] }] }]);
    expect(list.index).toBeGreaterThan(1);
    expect((await call("GET", "/v1/services?namespace=prod")).json).toEqual([{ Namespace: "prod", Services: [{ ServiceName: "api", Tags: ["internal"] }] }]);
    expect(((await call("GET", "/v1/services?namespace=*")).json as { Namespace: string }[]).map((s) => s.Namespace)).toEqual(["default", "prod"]);
  });

  it("serves a service's instances as api.ServiceRegistration, field for field", async () => {
    const web = jobWith("web", "default", "web", ["v1"]);
    const a = running(web, 0);
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    const got = await call("GET", "/v1/service/web");
    expect(got.status).toBe(200);
    const regs = got.json as ServiceRegistration[];
    expect(regs).toHaveLength(1);
    expect(Object.keys(regs[0]!).sort()).toEqual(REGISTRATION_FIELDS);
    expect(regs[0]).toMatchObject({ ServiceName: "web", Namespace: "default", NodeID: node.ID, Datacenter: "dc1", JobID: "web", AllocID: a.ID, Tags: ["v1"], Address: "10.0.0.1", Port: 21000 });
    expect(regs[0]!.ID).toContain(a.ID);
    expect((await call("GET", "/v1/service/nothing")).json).toEqual([]);
    // Another namespace's instances are not the default namespace's.
    expect((await call("GET", "/v1/service/web?namespace=prod")).json).toEqual([]);
  });

  it("answers a blocking query when an instance comes or goes", async () => {
    const web = jobWith("web", "default", "web", []);
    const first = await store.write((tx) => {
      tx.put("allocs", running(web, 0));
    });
    const waiting = call("GET", `/v1/service/web?index=${first.index}&wait=10s`);
    while (store.blockingQueries() === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await store.write((tx) => {
      tx.put("allocs", running(web, 1));
    });
    const answer = await waiting;
    expect(answer.index).toBe(second.index);
    expect((answer.json as unknown[]).length).toBe(2);
  });

  it("chooses N instances by Nomad's rendezvous hashing: the same ones for the same key", async () => {
    const web = jobWith("web", "default", "web", []);
    await store.write((tx) => {
      for (let i = 0; i < 5; i++) tx.put("allocs", running(web, i));
    });
    const two = (await call("GET", "/v1/service/web?choose=2|alloc-1")).json as ServiceRegistration[];
    expect(two).toHaveLength(2);
    expect((await call("GET", "/v1/service/web?choose=2|alloc-1")).json).toEqual(two);
    const all = (await call("GET", "/v1/service/web")).json as ServiceRegistration[];
    expect(chooseServices(all, "9|k")).toHaveLength(5);
    const bad = await call("GET", "/v1/service/web?choose=two");
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("Parameter for choose must be in form '<number>|<key>'");
  });

  it("deletes a service registered directly; refuses an allocation's, which goes when the allocation stops", async () => {
    const web = jobWith("web", "default", "web", []);
    const a = running(web, 0);
    await store.write((tx) => {
      tx.put("allocs", a);
      tx.put("services", { ID: "ext-1", Name: "web", Tags: [], Address: "10.0.0.9", Port: 80, Meta: {}, NodeID: node.ID, Checks: [], CreateIndex: 0, ModifyIndex: 0 });
    });
    const regs = (await call("GET", "/v1/service/web")).json as ServiceRegistration[];
    expect(regs.map((r) => r.ID).sort()).toEqual([regs.find((r) => r.AllocID === a.ID)!.ID, "ext-1"].sort());
    expect(regs.find((r) => r.ID === "ext-1")).toMatchObject({ JobID: "", AllocID: "", Namespace: "default" });
    const refused = await call("DELETE", `/v1/service/web/${regs.find((r) => r.AllocID === a.ID)!.ID}`);
    expect(refused.status).toBe(400);
    expect(refused.text).toContain(`running allocation ${a.ID}`);
    expect((await call("DELETE", "/v1/service/web/ext-1")).status).toBe(200);
    expect(((await call("GET", "/v1/service/web")).json as unknown[]).length).toBe(1);
    expect((await call("DELETE", "/v1/service/web/ext-1")).status).toBe(404);
  });

  it("shows a token the services of the namespaces it may read-job in, or the services it may read by Consul's rules", async () => {
    await store.write((tx) => {
      tx.put("allocs", running(jobWith("web", "default", "web", []), 0));
      tx.put("allocs", running(jobWith("api", "prod", "api", []), 1));
    });
    acl = compileAcl([parseAclPolicy('namespace "prod" { policy = "read" }', "p.hcl")]);
    expect((await call("GET", "/v1/services?namespace=*")).json).toEqual([{ Namespace: "prod", Services: [{ ServiceName: "api", Tags: [] }] }]);
    expect((await call("GET", "/v1/service/web")).json).toEqual([]);
    expect((await call("DELETE", "/v1/service/api/x?namespace=prod")).status).toBe(403);
    // A workload identity reads every service (Nomad's implicit workload access).
    acl = workloadAcl("default", "web", { group: "g", task: "t" });
    expect(((await call("GET", "/v1/service/web")).json as unknown[]).length).toBe(1);
  });
});

describe("services on the API server", () => {
  it("are served by startApi from the catalog the Consul routes read: one catalog, both views", async () => {
    const server = new Server(store);
    server.start();
    const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
    const consul = { catalog: new StoreCatalog(store, "dc1"), localNode: () => node.ID, version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
    const api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, consul });
    try {
      await store.write((tx) => {
        tx.put("allocs", running(jobWith("web", "default", "web", ["v1"]), 0));
      });
      const nomad = await fetch(`http://${api.address}/v1/service/web`);
      expect(((await nomad.json()) as ServiceRegistration[]).map((r) => r.Port)).toEqual([21000]);
      expect(Number(nomad.headers.get("x-nomad-index"))).toBeGreaterThan(1);
      const consulView = (await (await fetch(`http://${api.address}/v1/catalog/service/web`)).json()) as { ServicePort: number }[];
      expect(consulView.map((r) => r.ServicePort)).toEqual([21000]);
    } finally {
      await api.close();
      await server.stop();
    }
  });
});
