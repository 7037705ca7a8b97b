/**
 * `ruche server members`, `server force-leave`, `operator etcd list` and `operator etcd
 * remove` against a real HTTP API in this process (memory state, port 0 of 127.0.0.1): a
 * single server, and a server whose cluster is a value of three servers (a ClusterView
 * literal the test changes, standing for what etcd would say). The CLI runs through `runCli`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { Server, type ClusterView, type EtcdMemberStatus, type ServerInfo, type ServerMember } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ErrorCode, RucheError, silentLogger } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd: "/" };
  const code = await runCli(argv, io);
  return { code, out, err };
}

const info = (name: string, port: number): ServerInfo => ({ Name: name, Region: "europe", Datacenter: "europe-west1", HTTPAddr: `127.0.0.1:${port}`, ConsulAddr: "", Build: "0.15.0", EtcdMember: `etcd-${name}` });
const etcd = (name: string, id: string, leader: boolean, reachable = true): EtcdMemberStatus => ({
  ID: id,
  Name: name,
  PeerURLs: [`http://127.0.0.1:${name === "etcd-a" ? 5648 : name === "etcd-b" ? 5748 : 5848}`],
  ClientURLs: [],
  Reachable: reachable,
  IsLeader: leader,
  DbSize: reachable ? 24576 : 0,
  Revision: reachable ? 1042 : 0,
  RaftIndex: reachable ? 1077 : 0,
  Version: reachable ? "3.4.30" : "",
  Error: reachable ? "" : "context deadline exceeded",
});

let solo: { store: StateStore; server: Server; http: RunningHttp };
let three: { store: StateStore; server: Server; http: RunningHttp };
const status: Record<string, ServerMember["Status"]> = { a: "alive", b: "alive", c: "failed" };
let etcdMembers = [etcd("etcd-a", "8e9e05c52164694d", false), etcd("etcd-b", "91bc3c398fb3c146", true), etcd("etcd-c", "fd422379fda50e48", false, false)];

async function start(cluster?: ClusterView): Promise<{ store: StateStore; server: Server; http: RunningHttp }> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  const http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, ...(cluster === undefined ? {} : { cluster }) });
  return { store, server, http };
}

beforeAll(async () => {
  solo = await start();
  // Server "a" of three; "b" leads. Its own address is the API's; the others' are where they would be.
  const servers = [info("a", 0), info("b", 5746), info("c", 5846)];
  const cluster: ClusterView = {
    get self() {
      return servers[0] as ServerInfo;
    },
    isLeader: () => false,
    leader: () => servers[1] ?? null,
    members: () => servers.map((s) => ({ ...s, Status: status[s.Name] ?? "left", Leader: s.Name === "b" })),
    lastContact: () => 8,
    barrier: () => Promise.resolve(),
    forceLeave: (name) => {
      if (status[name] === undefined) return Promise.reject(new RucheError(ErrorCode.NotFound, `no server named ${name}`));
      status[name] = "left";
      return Promise.resolve();
    },
    etcdMembers: () => Promise.resolve(etcdMembers),
    etcdRemove: (key) => {
      const kept = etcdMembers.filter((m) => m.Name !== key && m.ID !== key);
      if (kept.length === etcdMembers.length) return Promise.reject(new RucheError(ErrorCode.NotFound, `no etcd member named or numbered ${key}`));
      etcdMembers = kept;
      return Promise.resolve();
    },
  };
  three = await start(cluster);
  (servers[0] as ServerInfo).HTTPAddr = three.http.address;
});

afterAll(async () => {
  for (const s of [solo, three]) {
    await s.http.close();
    await s.server.stop();
    await s.store.close();
  }
});

describe("ruche server members", () => {
  it("lists a single server, alive and leading, with no etcd member", async () => {
    const r = await cli(["server", "members", "-address", solo.http.address]);
    expect(r.code).toBe(0);
    const [header, row, ...rest] = r.out.trimEnd().split("\n");
    expect(header).toMatch(/^Name\s+Address\s+Port\s+Status\s+Leader\s+Etcd Member\s+Build\s+Datacenter\s+Region$/);
    // Blank Etcd Member and Build columns: only the spaces that keep the columns.
    expect(row?.split(/\s+/)).toEqual(["server.global", "127.0.0.1", String(solo.http.port), "alive", "true", "dc1", "global"]);
    expect(rest).toEqual([]);
  });

  it("lists three servers with Nomad's columns, the leader marked, each one's etcd member", async () => {
    const r = await cli(["server", "members", "-address", three.http.address]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Name\s+Address\s+Port\s+Status\s+Leader\s+Etcd Member\s+Build\s+Datacenter\s+Region$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      ["a.europe", "127.0.0.1", String(three.http.port), "alive", "false", "etcd-a", "0.15.0", "europe-west1", "europe"],
      ["b.europe", "127.0.0.1", "5746", "alive", "true", "etcd-b", "0.15.0", "europe-west1", "europe"],
      ["c.europe", "127.0.0.1", "5846", "failed", "false", "etcd-c", "0.15.0", "europe-west1", "europe"],
    ]);
    const detailed = await cli(["server", "members", "-detailed", "-address", three.http.address]);
    expect(detailed.out.split("\n")[2]).toBe("b.europe  127.0.0.1  5746   build=0.15.0,dc=europe-west1,etcd_member=etcd-b,id=b,port=5746,region=europe,role=nomad,rpc_addr=127.0.0.1");
    const json = JSON.parse((await cli(["server", "members", "-json", "-address", three.http.address])).out) as { ServerName: string; Members: unknown[] };
    expect(json.ServerName).toBe("a");
    expect(json.Members).toHaveLength(3);
  });
});

describe("ruche server force-leave", () => {
  it("marks a server left, by name or member name, and says so; an unknown one is an error", async () => {
    expect(await cli(["server", "force-leave", "-address", three.http.address, "c.europe"])).toEqual({ code: 0, out: 'Server "c.europe" has left the cluster\n', err: "" });
    expect(status.c).toBe("left");
    expect((await cli(["server", "members", "-address", three.http.address])).out).toMatch(/^c\.europe\s+127\.0\.0\.1\s+5846\s+left\s+false/m);
    const unknown = await cli(["server", "force-leave", "-address", three.http.address, "zz"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^Error: no server named zz/);
    const solo1 = await cli(["server", "force-leave", "-address", solo.http.address, "server"]);
    expect(solo1.err).toMatch(/^Error: server is this server: a server cannot force itself out/);
    expect((await cli(["server", "force-leave", "-address", three.http.address])).err).toMatch(/^Error: this command needs NAME/);
  });
});

describe("ruche server join", () => {
  it("needs an address, as Nomad's; a server that federates with no one says so (the two regions' join is test/e2e/federation.test.ts)", async () => {
    const none = await cli(["server", "join", "-address", solo.http.address]);
    expect(none.code).toBe(1);
    expect(none.err).toContain("One or more node addresses must be given as arguments");
    const r = await cli(["server", "join", "-address", solo.http.address, "127.0.0.1:1"]);
    expect(r).toMatchObject({ code: 1, out: "" });
    expect(r.err).toMatch(/^Error: this server cannot join other regions' servers/);
  });
});

describe("ruche operator etcd", () => {
  it("lists the members: leader, reachability, size, revision, raft index, version, peer URLs, and why one did not answer", async () => {
    const r = await cli(["operator", "etcd", "list", "-address", three.http.address]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "ID                Name    Leader  Reachable  DB Size  Revision  Raft Index  Version  Peer URLs",
        "8e9e05c52164694d  etcd-a  false   true       24 KiB   1042      1077        3.4.30   http://127.0.0.1:5648",
        "91bc3c398fb3c146  etcd-b  true    true       24 KiB   1042      1077        3.4.30   http://127.0.0.1:5748",
        "fd422379fda50e48  etcd-c  false   false                                              http://127.0.0.1:5848",
        "",
        "Unreachable",
        "etcd-c: context deadline exceeded",
        "",
      ].join("\n"),
    );
  });

  it("says a single server on SQLite has no etcd members", async () => {
    const r = await cli(["operator", "etcd", "list", "-address", solo.http.address]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error: this server keeps its state in its embedded store \(SQLite\): there are no etcd members/);
  });

  it("removes a member by name or by ID; an unknown one is an error", async () => {
    expect(await cli(["operator", "etcd", "remove", "-address", three.http.address, "etcd-c"])).toEqual({ code: 0, out: 'Removed etcd member "etcd-c"\n', err: "" });
    expect((await cli(["operator", "etcd", "remove", "-address", three.http.address, "8e9e05c52164694d"])).code).toBe(0);
    expect(etcdMembers.map((m) => m.Name)).toEqual(["etcd-b"]);
    const again = await cli(["operator", "etcd", "remove", "-address", three.http.address, "etcd-c"]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^Error: no etcd member named or numbered etcd-c/);
  });

  it("has help of its own", async () => {
    expect((await cli(["operator", "etcd", "remove", "-help"])).out).toMatch(/^Usage: ruche operator etcd remove \[options\] NAME\|ID/);
    expect((await cli(["--help"])).out).toMatch(/operator etcd list/);
  });
});
