import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server, soloCluster, type ClusterView, type EtcdMemberStatus, type ServerInfo, type ServerMember } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ErrorCode, RucheError, silentLogger } from "../structs/index.js";
import { decodeAnswers, decodeRequests, encodeAnswers, encodeRequests, FORWARD_BATCH_PATH } from "./forward.js";
import { startApi, startConsulApi, type CatalogApi, type RunningHttp } from "./index.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/**
 * A region of three servers as a value: who they are, who leads, how far behind each is.
 * Each server's ClusterView reads it, so a test moves the region by changing it.
 */
interface Region {
  infos: ServerInfo[];
  leader: string | null;
  status: Record<string, ServerMember["Status"]>;
  lastContact: Record<string, number>;
  etcd: EtcdMemberStatus[];
}

function etcdMember(name: string, id: string, leader: boolean): EtcdMemberStatus {
  return { ID: id, Name: name, PeerURLs: [`http://127.0.0.1:0/${name}`], ClientURLs: [], Reachable: true, IsLeader: leader, DbSize: 20480, Revision: 42, RaftIndex: 57, Version: "3.4.30", Error: "" };
}

function newRegion(): Region {
  const info = (name: string): ServerInfo => ({ Name: name, Region: "europe", Datacenter: "europe-west1", HTTPAddr: "", ConsulAddr: "", Build: "0.15.0", EtcdMember: name });
  return {
    infos: ["a", "b", "c"].map(info),
    leader: "b",
    status: { a: "alive", b: "alive", c: "alive" },
    lastContact: { a: 12, b: 0, c: 30 },
    etcd: [etcdMember("a", "8e9e05c52164694d", false), etcdMember("b", "91bc3c398fb3c146", true), etcdMember("c", "fd422379fda50e48", false)],
  };
}

/** Server `name`'s view of the region. */
function viewOf(region: Region, name: string): ClusterView {
  const info = (n: string): ServerInfo => region.infos.find((i) => i.Name === n) as ServerInfo;
  return {
    get self() {
      return info(name);
    },
    isLeader: () => region.leader === name,
    leader: () => (region.leader === null ? null : info(region.leader)),
    members: () => region.infos.filter((i) => i.Name in region.status).map((i) => ({ ...i, Status: region.status[i.Name] ?? "left", Leader: i.Name === region.leader })),
    lastContact: () => region.lastContact[name] ?? 0,
    barrier: () => Promise.resolve(),
    forceLeave: (n) => {
      if (!(n in region.status)) return Promise.reject(new RucheError(ErrorCode.NotFound, `no server named ${n}`));
      region.status[n] = "left";
      return Promise.resolve();
    },
    etcdMembers: () => Promise.resolve(region.etcd),
    etcdRemove: (key) => {
      const before = region.etcd.length;
      region.etcd = region.etcd.filter((m) => m.Name !== key && m.ID !== key);
      return region.etcd.length === before ? Promise.reject(new RucheError(ErrorCode.NotFound, `no etcd member named ${key}`)) : Promise.resolve();
    },
  };
}

async function store(): Promise<StateStore> {
  const s = await StateStore.open(memoryBackend());
  closers.push(() => s.close());
  return s;
}

async function api(cluster?: ClusterView): Promise<RunningHttp> {
  const st = await store();
  const server = new Server(st);
  const http = await startApi(server, st, { host: "127.0.0.1", port: 0, log: silentLogger, ...(cluster === undefined ? {} : { cluster }) });
  closers.push(() => http.close());
  return http;
}

async function consulApi(cluster?: ClusterView): Promise<RunningHttp> {
  const st = await store();
  const kv = new KVService(st, { now: Date.now, delays: new LockDelays() });
  const consul: CatalogApi = { catalog: new StoreCatalog(st, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(st, Date.now), allowScriptChecks: false, kv };
  const http = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, ...(cluster === undefined ? {} : { cluster }) });
  closers.push(() => http.close());
  return http;
}

async function get(http: RunningHttp, path: string, method = "GET"): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`http://${http.address}${path}`, { method });
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

/** Three Nomad APIs, one per server of `region`, their addresses filled in once they listen. */
async function threeServers(region: Region): Promise<Record<string, RunningHttp>> {
  const out: Record<string, RunningHttp> = {};
  for (const i of region.infos) {
    const http = await api(viewOf(region, i.Name));
    i.HTTPAddr = http.address;
    out[i.Name] = http;
  }
  return out;
}

describe("a single server's faces of its cluster", () => {
  it("names itself leader and only peer, and its members list holds it, alive and leading", async () => {
    const http = await api();
    expect((await get(http, "/v1/status/leader")).json).toBe(http.address);
    expect((await get(http, "/v1/status/peers")).json).toEqual([http.address]);
    const members = (await get(http, "/v1/agent/members")).json as { ServerName: string; ServerRegion: string; Members: { Name: string; Addr: string; Port: number; Status: string; Tags: Record<string, string> }[] };
    expect(members.ServerRegion).toBe("global");
    expect(members.Members).toHaveLength(1);
    expect(members.Members[0]).toMatchObject({ Name: "server.global", Addr: "127.0.0.1", Port: http.port, Status: "alive", Tags: { role: "nomad", region: "global", dc: "dc1", port: String(http.port) } });
  });

  it("answers every read with X-Nomad-KnownLeader true and X-Nomad-LastContact 0", async () => {
    const http = await api();
    for (const path of ["/v1/jobs", "/v1/status/leader", "/v1/nodes"]) {
      const { headers } = await get(http, path);
      expect(headers.get("x-nomad-knownleader")).toBe("true");
      expect(headers.get("x-nomad-lastcontact")).toBe("0");
    }
  });

  it("refuses the etcd views with 400 saying the state is in SQLite", async () => {
    const http = await api();
    const list = await get(http, "/v1/operator/etcd/members");
    expect(list.status).toBe(400);
    expect(JSON.stringify(list.json)).toMatch(/SQLite/);
    expect((await get(http, "/v1/operator/etcd/member/anything", "DELETE")).status).toBe(400);
  });

  it("refuses to force itself out, and force-leave without a node", async () => {
    const http = await api();
    expect((await get(http, "/v1/agent/force-leave?node=server", "PUT")).status).toBe(400);
    const missing = await get(http, "/v1/agent/force-leave", "PUT");
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.json)).toMatch(/missing node/);
  });
});

describe("three servers' faces of their cluster", () => {
  it("names the leader's HTTP address on every server, and every alive server as a peer", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    for (const http of Object.values(s)) {
      expect((await get(http, "/v1/status/leader")).json).toBe(s.b?.address);
      expect((await get(http, "/v1/status/peers")).json).toEqual([s.a?.address, s.b?.address, s.c?.address]);
    }
    region.status.c = "failed";
    expect((await get(s.a as RunningHttp, "/v1/status/peers")).json).toEqual([s.a?.address, s.b?.address]);
  });

  it("answers an empty leader with 200 and X-Nomad-KnownLeader false while there is none, and each server's own lag", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    const c = await get(s.c as RunningHttp, "/v1/status/leader");
    expect(c.headers.get("x-nomad-knownleader")).toBe("true");
    expect(c.headers.get("x-nomad-lastcontact")).toBe("30");
    region.leader = null;
    const none = await get(s.a as RunningHttp, "/v1/status/leader");
    expect(none.status).toBe(200);
    expect(none.json).toBe("");
    expect(none.headers.get("x-nomad-knownleader")).toBe("false");
  });

  it("says on a blocking query's answer what is known when it is sent, not when it was asked", async () => {
    const region = newRegion();
    const st = await store();
    const http = await startApi(new Server(st), st, { host: "127.0.0.1", port: 0, log: silentLogger, cluster: viewOf(region, "a") });
    closers.push(() => http.close());
    const index = Number((await fetch(`http://${http.address}/v1/jobs`)).headers.get("x-ruche-index"));
    // Answered when its wait ends: nothing is written meanwhile.
    const parked = fetch(`http://${http.address}/v1/jobs?index=${index}&wait=1s`);
    await expect.poll(() => st.blockingQueries("jobs")).toBe(1);
    region.leader = null;
    region.lastContact.a = 2500;
    const answer = await parked;
    expect(answer.headers.get("x-nomad-knownleader")).toBe("false");
    expect(answer.headers.get("x-nomad-lastcontact")).toBe("2500");
  });

  it("lists the members in Nomad's shape, named name.region, the leader's Addr:Tags.port its /v1/status/leader", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    region.status.c = "failed";
    const m = (await get(s.a as RunningHttp, "/v1/agent/members")).json as { ServerName: string; ServerRegion: string; ServerDC: string; Members: { Name: string; Addr: string; Port: number; Status: string; Tags: Record<string, string>; ProtocolCur: number; DelegateCur: number }[] };
    expect(m).toMatchObject({ ServerName: "a", ServerRegion: "europe", ServerDC: "europe-west1" });
    expect(m.Members.map((x) => [x.Name, x.Status])).toEqual([
      ["a.europe", "alive"],
      ["b.europe", "alive"],
      ["c.europe", "failed"],
    ]);
    expect(m.Members[2]).toMatchObject({ Tags: { role: "nomad", region: "europe", dc: "europe-west1", build: "0.15.0", etcd_member: "c" }, ProtocolCur: 2, DelegateCur: 4 });
    const leader = (await get(s.a as RunningHttp, "/v1/status/leader")).json;
    expect(m.Members.filter((x) => `${x.Addr}:${x.Tags.port ?? ""}` === leader).map((x) => x.Name)).toEqual(["b.europe"]);
  });

  it("forces a server out by its name or its member name, and 404s an unknown one", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    expect((await get(s.a as RunningHttp, "/v1/agent/force-leave?node=c.europe", "PUT")).status).toBe(200);
    expect(region.status.c).toBe("left");
    expect((await get(s.a as RunningHttp, "/v1/agent/force-leave?node=b", "PUT")).status).toBe(200);
    expect(region.status.b).toBe("left");
    expect((await get(s.a as RunningHttp, "/v1/agent/force-leave?node=zz", "PUT")).status).toBe(404);
  });

  it("lists the etcd members and removes one by name or by ID", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    const list = (await get(s.a as RunningHttp, "/v1/operator/etcd/members")).json as { Members: EtcdMemberStatus[] };
    expect(list.Members.map((x) => [x.Name, x.IsLeader])).toEqual([
      ["a", false],
      ["b", true],
      ["c", false],
    ]);
    expect((await get(s.a as RunningHttp, "/v1/operator/etcd/member/c", "DELETE")).status).toBe(200);
    expect((await get(s.a as RunningHttp, "/v1/operator/etcd/member/8e9e05c52164694d", "DELETE")).status).toBe(200);
    expect(region.etcd.map((x) => x.Name)).toEqual(["b"]);
    expect((await get(s.a as RunningHttp, "/v1/operator/etcd/member/c", "DELETE")).status).toBe(404);
  });

  it("gives every server's lag as that server reports it, and says why one cannot", async () => {
    const region = newRegion();
    const s = await threeServers(region);
    const down = s.c as RunningHttp;
    const lags = async (): Promise<{ Name: string; LastContact: number | null; Error: string; Leader: boolean }[]> => ((await get(s.a as RunningHttp, "/v1/operator/servers")).json as { Servers: { Name: string; LastContact: number | null; Error: string; Leader: boolean }[] }).Servers;
    expect((await lags()).map((x) => [x.Name, x.LastContact, x.Leader])).toEqual([
      ["a", 12, false],
      ["b", 0, true],
      ["c", 30, false],
    ]);
    await down.close();
    const after = await lags();
    expect(after[2]).toMatchObject({ Name: "c", LastContact: null });
    expect(after[2]?.Error).toMatch(/did not answer/);
    region.status.c = "failed";
    expect((await lags())[2]).toMatchObject({ LastContact: null, Error: "the server is failed" });
  });
});

describe("the Consul-compatible listener's faces of the cluster", () => {
  it("names the leader's Consul address, lists the members in Consul's shape, and sends X-Consul-* on reads", async () => {
    const region = newRegion();
    await threeServers(region);
    for (const i of region.infos) i.ConsulAddr = i.HTTPAddr.replace(/:\d+$/, `:${8500 + region.infos.indexOf(i)}`);
    const consul = await consulApi(viewOf(region, "c"));
    expect((await get(consul, "/v1/status/leader")).json).toBe(region.infos[1]?.ConsulAddr);
    expect((await get(consul, "/v1/status/peers")).json).toEqual(region.infos.map((i) => i.ConsulAddr));
    region.status.a = "failed";
    region.status.b = "left";
    const members = await get(consul, "/v1/agent/members");
    expect((members.json as { Name: string; Status: number; Port: number; Tags: Record<string, string> }[]).map((m) => [m.Name, m.Status, m.Port, m.Tags.role])).toEqual([
      ["a", 4, 8500, "consul"],
      ["b", 3, 8501, "consul"],
      ["c", 1, 8502, "consul"],
    ]);
    expect(members.headers.get("x-consul-knownleader")).toBe("true");
    expect(members.headers.get("x-consul-lastcontact")).toBe("30");
    expect(members.headers.get("x-nomad-knownleader")).toBeNull();
    const services = await get(consul, "/v1/catalog/services");
    expect(services.headers.get("x-consul-index")).not.toBeNull();
    expect(services.headers.get("x-consul-lastcontact")).toBe("30");
    expect((await get(consul, "/v1/agent/force-leave/a", "PUT")).status).toBe(200);
    expect(region.status.a).toBe("left");
  });

  it("answers an empty leader while there is none, and on a single server names itself", async () => {
    const region = newRegion();
    await threeServers(region);
    region.leader = null;
    const consul = await consulApi(viewOf(region, "a"));
    const none = await get(consul, "/v1/status/leader");
    expect(none.json).toBe("");
    expect(none.headers.get("x-consul-knownleader")).toBe("false");
    const solo = await consulApi();
    expect((await get(solo, "/v1/status/leader")).json).toBe(solo.address);
    expect((await get(solo, "/v1/status/peers")).json).toEqual([solo.address]);
  });

  it("sends X-Consul-LastContact on the KV's raw reads too, as Consul's client requires on every read", async () => {
    const solo = await consulApi(soloCluster({ Name: "s", Region: "global", Datacenter: "dc1", HTTPAddr: "127.0.0.1:1", ConsulAddr: "", Build: "", EtcdMember: "" }));
    await fetch(`http://${solo.address}/v1/kv/k`, { method: "PUT", body: "v" });
    const res = await fetch(`http://${solo.address}/v1/kv/k?raw`);
    expect(await res.text()).toBe("v");
    expect(res.headers.get("x-consul-lastcontact")).toBe("0");
    expect(res.headers.get("x-consul-knownleader")).toBe("true");
  });
});

describe("a follower's writes, forwarded to the leader in batches", () => {
  /** The leader serves the KV; the followers forward to it. */
  async function forwardingRegion(): Promise<{ region: Region; servers: Record<string, RunningHttp>; leaderKv: KVService }> {
    const region = newRegion();
    const servers: Record<string, RunningHttp> = {};
    let leaderKv: KVService | undefined;
    for (const i of region.infos) {
      const st = await store();
      const kv = new KVService(st, { now: Date.now, delays: new LockDelays() });
      const consul: CatalogApi = { catalog: new StoreCatalog(st, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(st, Date.now), allowScriptChecks: false, kv };
      const http = await startApi(new Server(st), st, { host: "127.0.0.1", port: 0, log: silentLogger, cluster: viewOf(region, i.Name), consul });
      closers.push(() => http.close());
      i.HTTPAddr = http.address;
      servers[i.Name] = http;
      if (i.Name === region.leader) leaderKv = kv;
    }
    return { region, servers, leaderKv: leaderKv as KVService };
  }

  async function put(http: RunningHttp, path: string, body: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://${http.address}${path}`, { method: "PUT", body });
    return { status: res.status, text: await res.text() };
  }

  it("answers each write sent to a follower with the leader's own answer, a refusal included, and the leader holds every one", async () => {
    const { servers } = await forwardingRegion();
    const a = servers.a as RunningHttp;
    const writes = await Promise.all(Array.from({ length: 40 }, (_, i) => put(a, `/v1/kv/batch/k${i}`, `v${i}`)));
    expect(writes.map((w) => `${w.status} ${w.text}`)).toEqual(Array.from({ length: 40 }, () => "200 true"));
    // A cas on a key that moved: Consul's false, from the leader.
    expect(await put(a, "/v1/kv/batch/k1?cas=1", "x")).toEqual({ status: 200, text: "false" });
    // A job that is not JSON: the leader's 400 and its error, as if sent there.
    const bad = await put(a, "/v1/jobs", "{not json");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ error: { code: "RUCHE_BAD_JSON" } });
    const b = servers.b as RunningHttp;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`http://${b.address}/v1/kv/batch/k${i}?raw`);
      expect(await res.text()).toBe(`v${i}`);
    }
    // The leader served every write under its own route, and received them in batches.
    const metrics = await (await fetch(`http://${b.address}/v1/metrics`)).text();
    const count = (route: string): number =>
      metrics
        .split("\n")
        .filter((l) => l.startsWith("ruche_http_requests_total{") && l.includes(`route="${route}"`))
        .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    expect(count("/v1/kv/batch/k7")).toBe(1);
    expect(count("/v1/jobs")).toBe(1);
    const batches = count("/v1/internal/forward");
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(42);
  });

  it("serves a batch on the leader write by write, in order, each answer in its place", async () => {
    const { servers } = await forwardingRegion();
    const b = servers.b as RunningHttp;
    const body = encodeRequests([
      { method: "PUT", url: "/v1/kv/x", headers: {}, body: Buffer.from("1") },
      { method: "GET", url: "/v1/kv/x", headers: {}, body: Buffer.alloc(0) },
      { method: "PUT", url: "/v1/nowhere", headers: {}, body: Buffer.alloc(0) },
      { method: "PUT", url: "/v1/kv/y?cas=0", headers: {}, body: Buffer.from("2") },
    ]);
    const res = await fetch(`http://${b.address}${FORWARD_BATCH_PATH}`, { method: "POST", body, headers: { "x-ruche-forwarded-by": "a" } });
    expect(res.status).toBe(200);
    const answers = decodeAnswers(Buffer.from(await res.arrayBuffer()));
    expect(answers.map((x) => [x.status, x.body.toString("utf8").slice(0, 40)])).toEqual([
      [200, "true"],
      [400, expect.stringContaining("RUCHE_BAD_REQUEST") as unknown],
      [404, expect.stringContaining("RUCHE_NOT_FOUND") as unknown],
      [200, "true"],
    ]);
  });

  it("refuses each write of a batch that reaches a server no longer leading with 503 RUCHE_NO_LEADER, and a malformed batch with 400", async () => {
    const { servers } = await forwardingRegion();
    const c = servers.c as RunningHttp;
    const body = encodeRequests([{ method: "PUT", url: "/v1/kv/x", headers: {}, body: Buffer.from("1") }]);
    const res = await fetch(`http://${c.address}${FORWARD_BATCH_PATH}`, { method: "POST", body, headers: { "x-ruche-forwarded-by": "a" } });
    const [answer] = decodeAnswers(Buffer.from(await res.arrayBuffer()));
    expect(answer?.status).toBe(503);
    expect(answer?.body.toString("utf8")).toMatch(/RUCHE_NO_LEADER.*no longer leads.*forwarded here by a.*nothing was written/);
    const torn = await fetch(`http://${c.address}${FORWARD_BATCH_PATH}`, { method: "POST", body: body.subarray(0, body.length - 1) });
    expect(torn.status).toBe(400);
    expect(await torn.text()).toMatch(/forwarded batch: a frame of 1 bytes at byte \d+ runs past the end/);
  });

  it("answers 503 RUCHE_NO_LEADER, nothing written, when the leader cannot be reached", async () => {
    const { region, servers } = await forwardingRegion();
    await (servers.b as RunningHttp).close();
    const res = await put(servers.a as RunningHttp, "/v1/kv/x", "1");
    expect(res.status).toBe(503);
    expect(res.text).toMatch(/RUCHE_NO_LEADER.*the leader b \(127\.0\.0\.1:\d+\) could not be reached.*nothing was written/);
    region.leader = null;
    expect((await put(servers.a as RunningHttp, "/v1/kv/x", "1")).text).toMatch(/RUCHE_NO_LEADER.*no cluster leader/);
  });

  it("sends a write that waits for a node's agent on its own, so the writes sent with it are not held", async () => {
    const { region, servers } = await forwardingRegion();
    const seen: string[] = [];
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const leader = createServer((req, res) => {
      seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === FORWARD_BATCH_PATH) {
          // A leader answers a batch once every write in it is answered.
          const writes = decodeRequests(Buffer.concat(chunks));
          const answer = (): void => void res.writeHead(200).end(encodeAnswers(writes.map(() => ({ status: 200, headers: {}, body: Buffer.from("true") }))));
          if (writes.some((w) => w.url.startsWith("/v1/volume/"))) void held.then(answer);
          else answer();
        } else void held.then(() => res.writeHead(200, { "content-type": "application/json" }).end('{"Volume":{}}'));
      });
    });
    await new Promise<void>((r) => leader.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise((r) => {
          release();
          leader.close(() => {
            r();
          });
        }),
    );
    (region.infos.find((i) => i.Name === "b") as ServerInfo).HTTPAddr = `127.0.0.1:${(leader.address() as AddressInfo).port}`;
    const a = servers.a as RunningHttp;
    // Sent in the same turn: without their own request, the KV writes would be answered with the volume's.
    const volumes = ["create", "register"].map((op) => put(a, `/v1/volume/host/${op}`, "{}"));
    const removal = fetch(`http://${a.address}/v1/volume/host/v1?namespace=default`, { method: "DELETE" });
    const kv = await Promise.all(Array.from({ length: 5 }, (_, i) => put(a, `/v1/kv/k${i}`, "1")));
    expect(kv.map((w) => w.status)).toEqual([200, 200, 200, 200, 200]);
    expect(seen.filter((x) => !x.startsWith("POST")).sort()).toEqual(["DELETE /v1/volume/host/v1?namespace=default", "PUT /v1/volume/host/create", "PUT /v1/volume/host/register"]);
    release();
    expect((await Promise.all(volumes)).map((w) => w.status)).toEqual([200, 200]);
    expect((await removal).status).toBe(200);
  });

  it("sends each write on its own to a leader that has no batch route", async () => {
    const { region, servers } = await forwardingRegion();
    const seen: string[] = [];
    const old = createServer((req, res) => {
      seen.push(`${req.method ?? ""} ${req.url ?? ""} by ${String(req.headers["x-ruche-forwarded-by"])}`);
      if (req.url === FORWARD_BATCH_PATH) res.writeHead(404).end();
      else res.writeHead(200, { "content-type": "application/json" }).end("true");
    });
    await new Promise<void>((r) => old.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise((r) => {
          old.close(() => {
            r();
          });
        }),
    );
    (region.infos.find((i) => i.Name === "b") as ServerInfo).HTTPAddr = `127.0.0.1:${(old.address() as AddressInfo).port}`;
    const writes = await Promise.all([put(servers.a as RunningHttp, "/v1/kv/p", "1"), put(servers.a as RunningHttp, "/v1/kv/q", "2")]);
    expect(writes).toEqual([
      { status: 200, text: "true" },
      { status: 200, text: "true" },
    ]);
    expect(seen.filter((s) => !s.startsWith("POST")).sort()).toEqual(["PUT /v1/kv/p by a", "PUT /v1/kv/q by a"]);
  });
});
