import { afterEach, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { FederationGossip, Server, soloCluster, type FederationProbe, type ServerInfo } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { startApi, startConsulApi, type CatalogApi, type RunningHttp } from "./index.js";

/**
 * The federation's routes over real HTTP: two regions' APIs, each a single server with its
 * `FederationGossip`, probing each other through `POST /v1/internal/federation` (the probe is
 * the agent's, written again here: api/ may not import agent/).
 */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const probe: FederationProbe = async (address, ours, signal) => {
  const res = await fetch(`http://${address}/v1/internal/federation`, { method: "POST", body: JSON.stringify(ours), headers: { "content-type": "application/json" }, signal });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
};

interface Region {
  api: RunningHttp;
  consul: RunningHttp;
  gossip: FederationGossip;
}

async function region(name: string, region: string, dc: string): Promise<Region> {
  const st = await StateStore.open(memoryBackend());
  closers.push(() => st.close());
  const self: ServerInfo = { Name: name, Region: region, Datacenter: dc, HTTPAddr: "", ConsulAddr: "", Build: "test", EtcdMember: "" };
  const cluster = soloCluster(() => self);
  const gossip = new FederationGossip({ cluster, probe, log: silentLogger });
  const kv = new KVService(st, { now: Date.now, delays: new LockDelays() });
  const consul: CatalogApi = { catalog: new StoreCatalog(st, dc), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(st, Date.now), allowScriptChecks: false, kv };
  const api = await startApi(new Server(st), st, { host: "127.0.0.1", port: 0, log: silentLogger, cluster, consul, federation: gossip });
  closers.push(() => api.close());
  const c = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, cluster, federation: gossip });
  closers.push(() => c.close());
  self.HTTPAddr = api.address;
  self.ConsulAddr = c.address;
  return { api, consul: c, gossip };
}

async function call(http: RunningHttp, method: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${http.address}${path}`, { method });
  return { status: res.status, text: await res.text() };
}

describe("the federation's routes", () => {
  it("PUT /v1/agent/join?address= joins another region (Nomad's answer), and both then list both", async () => {
    const eu = await region("eu1", "europe", "europe-west1");
    const us = await region("us1", "us", "us-west-2");
    const r = await call(eu.api, "PUT", `/v1/agent/join?address=${us.api.address}`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ num_joined: 1, error: "" });
    expect(JSON.parse((await call(eu.api, "GET", "/v1/regions")).text)).toEqual(["europe", "us"]);
    expect(JSON.parse((await call(us.api, "GET", "/v1/regions")).text)).toEqual(["europe", "us"]);
    const members = JSON.parse((await call(eu.api, "GET", "/v1/agent/members")).text) as { Members: { Name: string; Tags: Record<string, string> }[] };
    expect(members.Members.map((m) => [m.Name, m.Tags.region, m.Tags.dc])).toEqual([
      ["eu1.europe", "europe", "europe-west1"],
      ["us1.us", "us", "us-west-2"],
    ]);
    const self = JSON.parse((await call(eu.api, "GET", "/v1/agent/self")).text) as { stats: { nomad: { known_regions: string } } };
    expect(self.stats.nomad.known_regions).toBe("2");

    // Consul's: the WAN members as name.dc, the datacenters this one first, their coordinates.
    const wan = JSON.parse((await call(eu.consul, "GET", "/v1/agent/members?wan=1")).text) as { Name: string }[];
    expect(wan.map((m) => m.Name)).toEqual(["eu1.europe-west1", "us1.us-west-2"]);
    const lan = JSON.parse((await call(eu.consul, "GET", "/v1/agent/members")).text) as { Name: string }[];
    expect(lan.map((m) => m.Name)).toEqual(["eu1"]);
    expect(JSON.parse((await call(us.consul, "GET", "/v1/catalog/datacenters")).text)).toEqual(["us-west-2", "europe-west1"]);
    expect(JSON.parse((await call(eu.api, "GET", "/v1/catalog/datacenters")).text)).toEqual(["europe-west1", "us-west-2"]);
    const coords = JSON.parse((await call(eu.consul, "GET", "/v1/coordinate/datacenters")).text) as { Datacenter: string; AreaID: string; Coordinates: { Node: string; Coord: { Vec: number[]; Height: number } }[] }[];
    expect(coords.map((c) => [c.Datacenter, c.AreaID, c.Coordinates.map((x) => x.Node)])).toEqual([
      ["europe-west1", "WAN", ["eu1.europe-west1"]],
      ["us-west-2", "WAN", ["us1.us-west-2"]],
    ]);
    expect(coords[1]?.Coordinates[0]?.Coord.Vec).toHaveLength(8);
  });

  it("a join that reaches no one says why, with 200 as Nomad; a bad address is a 400 naming it", async () => {
    const eu = await region("eu1", "europe", "europe-west1");
    const r = await call(eu.api, "PUT", "/v1/agent/join?address=127.0.0.1:1");
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as { num_joined: number; error: string };
    expect(body.num_joined).toBe(0);
    expect(body.error).toMatch(/^127\.0\.0\.1:1: /);
    const bad = await call(eu.api, "PUT", "/v1/agent/join?address=provider%3Daws");
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("a join takes another server's API address");
    // Without an address (and no cluster PKI for the nodes' join): Nomad's words.
    expect(await call(eu.api, "PUT", "/v1/agent/join")).toMatchObject({ status: 400, text: expect.stringContaining("missing address to join") as unknown });
  });

  it("Consul's join: ?wan=1 joins another datacenter's server; without it, refused as not built", async () => {
    const eu = await region("eu1", "europe", "europe-west1");
    const us = await region("us1", "us", "us-west-2");
    const lan = await call(eu.consul, "PUT", `/v1/agent/join/${us.api.address}`);
    expect(lan.status).toBe(400);
    expect(lan.text).toContain("joining a LAN pool at run time is not built");
    expect(await call(eu.consul, "PUT", `/v1/agent/join/${us.api.address}?wan=1`)).toMatchObject({ status: 200 });
    expect(JSON.parse((await call(eu.api, "GET", "/v1/regions")).text)).toEqual(["europe", "us"]);
    const failed = await call(eu.consul, "PUT", "/v1/agent/join/127.0.0.1:1?wan=1");
    expect(failed.status).toBe(500);
    expect(failed.text).toMatch(/^127\.0\.0\.1:1: /);
  });

  it("refuses a malformed exchange with a 400 saying where", async () => {
    const eu = await region("eu1", "europe", "europe-west1");
    const res = await fetch(`http://${eu.api.address}/v1/internal/federation`, { method: "POST", body: JSON.stringify({ Name: "x", Region: "r", Members: [{ Name: "x" }] }), headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Members[0].Status must be \\"alive\\", \\"failed\\" or \\"left\\"');
  });
});
