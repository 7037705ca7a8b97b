import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { soloCluster, type Federation, type FederationMember, type ServerInfo } from "../server/index.js";
import { federationDatacenters } from "./datacenter-watch.js";

const self: ServerInfo = { Name: "eu-1", Region: "europe", Datacenter: "europe-west1", HTTPAddr: "127.0.0.1:1", ConsulAddr: "", Build: "test", EtcdMember: "" };

function member(name: string, region: string, dc: string, o: Partial<FederationMember> = {}): FederationMember {
  return { Name: name, Region: region, Datacenter: dc, HTTPAddr: "127.0.0.1:1", ConsulAddr: "", Build: "test", EtcdMember: "", Status: "alive", Leader: true, ...o };
}

/** A federation of the members given: a datacenter's server is its first alive member. */
function federation(members: FederationMember[]): Federation {
  return {
    regions: () => [...new Set(members.map((m) => m.Region))].sort(),
    datacenters: () => [...new Set(members.map((m) => m.Datacenter))].sort(),
    members: () => members,
    serverIn: (r) => members.find((m) => m.Region === r && m.Status === "alive"),
    serverInDatacenter: (dc) => members.find((m) => m.Datacenter === dc && m.Status === "alive"),
  };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe("federationDatacenters", () => {
  it("lists the other regions' datacenters nearest first, never measured last, this region's left out", async () => {
    const f = federation([
      member("eu-1", "europe", "europe-west1"),
      member("eu-2", "europe", "europe-west2"),
      member("us-1", "us", "us-west-2", { RTT: 80 }),
      member("as-1", "asia", "asia-east1", { RTT: 20 }),
      member("sa-1", "south", "sa-east1"),
      member("af-1", "africa", "af-south1", { RTT: 5, Status: "failed" }),
    ]);
    const cluster = soloCluster(self);
    const d = federationDatacenters({ federation: f, cluster });
    expect(await d.nearest(new AbortController().signal)).toEqual(["asia-east1", "us-west-2", "af-south1", "sa-east1"]);
  });

  it("follows a datacenter's catalog with a blocking query on its server, the answer checked", async () => {
    const asked: string[] = [];
    const instance = { ID: "web-1", Service: "web", Tags: [], Address: "10.1.0.1", Port: 80, Meta: {}, node: { ID: "n", Node: "n", Address: "10.1.0.1", Datacenter: "us-west-2", Meta: {}, CreateIndex: 1, ModifyIndex: 1 }, checks: [], CreateIndex: 1, ModifyIndex: 1 };
    const http = createServer((req, res) => {
      asked.push(req.url ?? "");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ index: 9, instances: [instance, { ID: 3 }] }));
    });
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    const d = federationDatacenters({ federation: federation([member("us-1", "us", "us-west-2", { HTTPAddr: address })]), cluster: soloCluster(self) });
    const snap = await d.snapshot("us-west-2", 4, 30_000, new AbortController().signal);
    expect(asked).toEqual(["/v1/catalog/snapshot?index=4&wait=30s"]);
    // The malformed instance is left out at this edge.
    expect(snap).toEqual({ index: 9, instances: [instance], nodeApis: [] });
    await expect(d.snapshot("mars-1", 0, 1000, new AbortController().signal)).rejects.toThrow("no server of datacenter mars-1 answers");
  });

  it("a server answering an error, or what is not a catalog, fails the read with what it said", async () => {
    let answer: [number, string] = [403, "Permission denied"];
    const http = createServer((_req, res) => res.writeHead(answer[0]).end(answer[1]));
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    const d = federationDatacenters({ federation: federation([member("us-1", "us", "us-west-2", { HTTPAddr: address })]), cluster: soloCluster(self) });
    await expect(d.snapshot("us-west-2", 0, 1000, new AbortController().signal)).rejects.toThrow(/us-1 .* of datacenter us-west-2 answered GET \/v1\/catalog\/snapshot\?index=0&wait=1s with 403: Permission denied/);
    answer = [200, "[]"];
    await expect(d.snapshot("us-west-2", 0, 1000, new AbortController().signal)).rejects.toThrow("answered a catalog that is not one");
  });
});
