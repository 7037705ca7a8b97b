import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../apiclient/index.js";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { parseJob } from "../jobspec/index.js";
import { Server, type ClusterView, type Federation, type FederationMember, type ServerInfo } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, type Job } from "../structs/index.js";
import { FEDERATION_FORWARDED, regionForJob } from "./federation-forward.js";
import { startApi, startConsulApi, type CatalogApi, type RunningHttp } from "./index.js";

/**
 * Two regions of one server each, `europe` (datacenter europe-west1) and `us` (us-west-2), real
 * HTTP on 127.0.0.1 over their own stores, each told of the other by a federation built here
 * from the other's real server (what the federation's membership keeps up to date in an
 * agent). Europe's region holds a second server in europe-west2 (a member of its view only):
 * that datacenter is europe's own.
 */
interface Region {
  info: ServerInfo;
  status: FederationMember["Status"];
  store: StateStore;
  server: Server;
  api: RunningHttp;
  consul: RunningHttp;
}

const regions: Record<string, Region> = {};
const closers: (() => Promise<void>)[] = [];

function federationOf(self: string): Federation {
  const member = (r: Region): FederationMember => ({ ...r.info, Status: r.status, Leader: true });
  const all = (): FederationMember[] => Object.values(regions).map(member);
  const others = (): FederationMember[] => all().filter((m) => m.Name !== self);
  return {
    regions: () => [...new Set(all().map((m) => m.Region))].sort(),
    datacenters: () => [...new Set(all().map((m) => m.Datacenter))].sort(),
    members: all,
    serverIn: (region) => others().find((m) => m.Region === region && m.Status === "alive"),
    serverInDatacenter: (dc) => others().find((m) => m.Datacenter === dc && m.Status === "alive"),
  };
}

function viewOf(info: ServerInfo, peers: ServerInfo[]): ClusterView {
  return {
    get self() {
      return info;
    },
    isLeader: () => true,
    leader: () => info,
    members: () => [info, ...peers].map((i) => ({ ...i, Status: "alive" as const, Leader: i === info })),
    lastContact: () => 0,
    barrier: () => Promise.resolve(),
    forceLeave: () => Promise.resolve(),
    etcdMembers: () => Promise.resolve(null),
    etcdRemove: () => Promise.resolve(),
  };
}

async function startRegion(name: string, region: string, dc: string, peers: ServerInfo[] = []): Promise<void> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  server.start();
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const consul: CatalogApi = { catalog: new StoreCatalog(store, dc), localNode: () => undefined, version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
  const info: ServerInfo = { Name: name, Region: region, Datacenter: dc, HTTPAddr: "", ConsulAddr: "", Build: "0.15.0", EtcdMember: "" };
  const cluster = viewOf(info, peers);
  const federation = federationOf(name);
  const api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, cluster, consul, federation });
  const consulApi = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, cluster, federation });
  info.HTTPAddr = api.address;
  info.ConsulAddr = consulApi.address;
  regions[region] = { info, status: "alive", store, server, api, consul: consulApi };
  closers.push(async () => {
    await api.close();
    await consulApi.close();
    await server.stop();
    await store.close();
  });
}

beforeAll(async () => {
  await startRegion("eu-1", "europe", "europe-west1", [{ Name: "eu-2", Region: "europe", Datacenter: "europe-west2", HTTPAddr: "127.0.0.1:1", ConsulAddr: "", Build: "0.15.0", EtcdMember: "" }]);
  await startRegion("us-1", "us", "us-west-2");
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function region(name: string): Region {
  const r = regions[name];
  if (r === undefined) throw new Error(`no region ${name}`);
  return r;
}

async function demoJob(id: string, jobRegion?: string): Promise<Job> {
  const r = await parseJob(`job "${id}" {\n${jobRegion === undefined ? "" : `  region = "${jobRegion}"\n`}  group "g" {\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n`, { file: `${id}.hcl` });
  if (!r.ok) throw new Error("bad test job");
  return r.job;
}

async function call(address: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`http://${address}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe("Nomad's region of a job submission (regionForJob)", () => {
  it("takes the query's region, the body's over it, else the job's; none or global is this server's", () => {
    expect(regionForJob("us", undefined, "europe", "europe")).toBe("us");
    expect(regionForJob("us", "asia", "europe", "europe")).toBe("asia");
    expect(regionForJob(null, "", "us", "europe")).toBe("us");
    expect(regionForJob(null, undefined, "global", "europe")).toBe("europe");
    expect(regionForJob(null, undefined, undefined, "europe")).toBe("europe");
  });
});

describe("forwarding to another region", () => {
  it("answers ?region=us on europe's API with us's jobs, and its index", async () => {
    const us = region("us");
    await us.server.registerJob(await demoJob("only-in-us"));
    const direct = await call(us.info.HTTPAddr, "GET", "/v1/jobs");
    const through = await call(region("europe").info.HTTPAddr, "GET", "/v1/jobs?region=us");
    expect(through.status).toBe(200);
    expect((JSON.parse(through.text) as { ID: string }[]).map((j) => j.ID)).toContain("only-in-us");
    expect(through.headers.get("x-nomad-index")).toBe(direct.headers.get("x-nomad-index"));
    const local = await call(region("europe").info.HTTPAddr, "GET", "/v1/jobs");
    expect((JSON.parse(local.text) as { ID: string }[]).map((j) => j.ID)).not.toContain("only-in-us");
    // This server's own region, named: answered here.
    expect((await call(region("europe").info.HTTPAddr, "GET", "/v1/jobs?region=europe")).text).toBe(local.text);
  });

  it("registers a job whose region is us in us through europe, and never in europe; a global job stays here as europe's", async () => {
    const eu = region("europe");
    const us = region("us");
    const client = new ApiClient(eu.info.HTTPAddr);
    const res = await client.register(await demoJob("web-us", "us"));
    expect(res.body.EvalID).not.toBe("");
    expect(us.store.job("default", "web-us")?.Region).toBe("us");
    expect(eu.store.job("default", "web-us")).toBeNull();
    // Its evaluation is us's, read through europe with ?region=us.
    const usClient = new ApiClient(eu.info.HTTPAddr, { query: { region: "us" } });
    expect((await usClient.evaluation(res.body.EvalID)).body.JobID).toBe("web-us");
    await client.register(await demoJob("web-here"));
    expect(eu.store.job("default", "web-here")?.Region).toBe("europe");
    expect(us.store.job("default", "web-here")).toBeNull();
    // The plan of a job of us is us's plan: the job is there, so nothing is new.
    const plan = await call(eu.info.HTTPAddr, "PUT", "/v1/job/web-us/plan", JSON.stringify({ Job: await demoJob("web-us", "us"), Diff: true }));
    expect(plan.status).toBe(200);
    expect((JSON.parse(plan.text) as { Diff: { Type: string } }).Diff.Type).toBe("None");
  });

  it("answers Nomad's No path to region for a region nobody knows (400) and for one whose servers do not answer (503)", async () => {
    const eu = region("europe");
    const mars = await call(eu.info.HTTPAddr, "GET", "/v1/jobs?region=mars");
    expect(mars.status).toBe(400);
    expect(JSON.parse(mars.text)).toEqual({ error: { code: "RUCHE_NO_REGION_PATH", message: 'No path to region "mars": no server of it is known (regions: europe, us)', path: "region" } });
    const job = await call(eu.info.HTTPAddr, "PUT", "/v1/jobs", JSON.stringify({ Job: await demoJob("to-mars", "mars") }));
    expect(job.status).toBe(400);
    expect(eu.store.job("default", "to-mars")).toBeNull();
    region("us").status = "failed";
    try {
      const down = await call(eu.info.HTTPAddr, "GET", "/v1/jobs?region=us");
      expect(down.status).toBe(503);
      expect((JSON.parse(down.text) as { error: { message: string } }).error.message).toBe('No path to region "us": none of its servers answers (us-1 failed); try again once one is back');
    } finally {
      region("us").status = "alive";
    }
  });

  it("never sends on a request another server sent here", async () => {
    const sent = await call(region("europe").info.HTTPAddr, "GET", "/v1/jobs?region=us", undefined, { [FEDERATION_FORWARDED]: "x-1.asia" });
    expect(sent.status).toBe(400);
    expect(sent.text).toContain("x-1.asia sent this request to eu-1 (region europe, datacenter europe-west1) for region \\\"us\\\"");
  });

  it("relays a blocking query, which answers when the other region changes", async () => {
    const eu = region("europe");
    const us = region("us");
    const first = await call(eu.info.HTTPAddr, "GET", "/v1/jobs?region=us");
    const index = Number(first.headers.get("x-nomad-index"));
    const waiting = call(eu.info.HTTPAddr, "GET", `/v1/jobs?region=us&index=${index}&wait=20s`);
    await expect.poll(() => us.store.blockingQueries("jobs")).toBe(1);
    await us.server.registerJob(await demoJob("woken"));
    const woken = await waiting;
    expect(Number(woken.headers.get("x-nomad-index"))).toBeGreaterThan(index);
    expect((JSON.parse(woken.text) as { ID: string }[]).map((j) => j.ID)).toContain("woken");
  });

  it("streams the other region's events as they come", async () => {
    const eu = region("europe");
    const ctl = new AbortController();
    const res = await fetch(`http://${eu.info.HTTPAddr}/v1/event/stream?region=us&topic=Job:streamed`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await region("us").server.registerJob(await demoJob("streamed"));
    let text = "";
    while (!text.includes('"Key":"streamed"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    ctl.abort();
    expect(text).toContain('"Topic":"Job"');
  });
});

describe("forwarding to another datacenter (?dc=)", () => {
  it("writes a key with ?dc=us-west-2 in us only, on either API, and reads it back the same way", async () => {
    const eu = region("europe");
    const us = region("us");
    for (const [address, key] of [
      [eu.info.ConsulAddr, "from-consul-port"],
      [eu.info.HTTPAddr, "from-nomad-port"],
    ] as const) {
      expect(await call(address, "PUT", `/v1/kv/${key}?dc=us-west-2`, "hello")).toMatchObject({ status: 200, text: "true" });
      expect((await call(us.info.ConsulAddr, "GET", `/v1/kv/${key}?raw`)).text).toBe("hello");
      expect((await call(eu.info.ConsulAddr, "GET", `/v1/kv/${key}`)).status).toBe(404);
      expect((await call(address, "GET", `/v1/kv/${key}?dc=us-west-2&raw`)).text).toBe("hello");
    }
  });

  it("answers a datacenter of its own region here, and Consul's errors for one it cannot reach", async () => {
    const eu = region("europe");
    expect(await call(eu.info.ConsulAddr, "PUT", "/v1/kv/local-key?dc=europe-west2", "here")).toMatchObject({ status: 200, text: "true" });
    expect((await call(eu.info.ConsulAddr, "GET", "/v1/kv/local-key?raw")).text).toBe("here");
    expect(await call(eu.info.ConsulAddr, "PUT", "/v1/kv/lost?dc=nowhere", "x")).toMatchObject({ status: 500, text: "No path to datacenter" });
    expect(await call(eu.info.HTTPAddr, "GET", "/v1/catalog/services?dc=nowhere")).toMatchObject({ status: 500, text: "No path to datacenter" });
    region("us").status = "failed";
    try {
      expect(await call(eu.info.ConsulAddr, "GET", "/v1/catalog/services?dc=us-west-2")).toMatchObject({ status: 500, text: "Remote DC has no server currently reachable" });
    } finally {
      region("us").status = "alive";
    }
    expect(await call(eu.info.ConsulAddr, "GET", "/v1/kv/lost?raw")).toMatchObject({ status: 404 });
    // Consul's status routes name the other datacenter's leader.
    expect(JSON.parse((await call(eu.info.ConsulAddr, "GET", "/v1/status/leader?dc=us-west-2")).text)).toBe(region("us").info.ConsulAddr);
  });
});
