import { describe, expect, it } from "vitest";
import { FederationGossip, soloCluster } from "../server/index.js";
import { silentLogger } from "../structs/index.js";
import { serverFederation } from "./federation.js";

const cluster = soloCluster({ Name: "eu1", Region: "europe", Datacenter: "europe-west1", HTTPAddr: "127.0.0.1:4646", ConsulAddr: "", Build: "t", EtcdMember: "" });

describe("a server's federation", () => {
  it("with TLS on, refuses retry_join_wan at start rather than speak plain HTTP to the other region", () => {
    expect(() => serverFederation(cluster, { tls: true, seeds: ["10.1.0.1:4646"], log: silentLogger })).toThrow(/^retry_join_wan: federation between regions over TLS is not built yet: each region's cluster CA is its own/);
  });

  it("with TLS on and nothing to join, is this region alone, and refuses a join with the same reason", async () => {
    const f = serverFederation(cluster, { tls: true, seeds: [], log: silentLogger });
    expect(f.federation.regions()).toEqual(["europe"]);
    expect("exchange" in f.federation).toBe(false);
    await expect(f.federation.join?.(["10.1.0.1:4646"])).rejects.toThrow(/federation between regions over TLS is not built yet/);
  });

  it("with TLS off, gossips (other regions may join this one even when it joins none)", async () => {
    const f = serverFederation(cluster, { tls: false, seeds: [], log: silentLogger });
    expect(f.federation).toBeInstanceOf(FederationGossip);
    f.start();
    await f.stop();
  });
});
