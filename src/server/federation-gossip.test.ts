import { describe, expect, it } from "vitest";
import { soloCluster, type ServerInfo } from "./cluster.js";
import { FederationGossip, parseFederationAnswer, type FederationProbe } from "./federation-gossip.js";

/**
 * The federation's merge and failure logic, on a network of this test's making: each server's
 * HTTP address leads to its gossip's `exchange` (what the `POST /v1/internal/federation` route
 * calls), unless the test has cut it. Time is a counter the test moves; rounds are driven by hand.
 */
function net() {
  const servers = new Map<string, FederationGossip>();
  const down = new Set<string>();
  let clock = 1_000_000;
  const probe: FederationProbe = (address, ours) => {
    const g = servers.get(address);
    if (g === undefined || down.has(address)) return Promise.reject(new Error(`connect ECONNREFUSED ${address}`));
    return Promise.resolve(g.exchange(JSON.parse(JSON.stringify(ours))));
  };
  const add = (name: string, region: string, dc: string, seeds: string[] = []): FederationGossip => {
    const info: ServerInfo = { Name: name, Region: region, Datacenter: dc, HTTPAddr: `${name}:4646`, ConsulAddr: `${name}:8500`, Build: "test", EtcdMember: "" };
    const g = new FederationGossip({ cluster: soloCluster(info), probe, seeds, now: () => clock, elapsed: () => clock, intervalMs: 1000, failAfterMisses: 3, forgetAfterMs: 60_000 });
    servers.set(info.HTTPAddr, g);
    return g;
  };
  const rounds = async (n: number, ...gs: FederationGossip[]): Promise<void> => {
    for (let i = 0; i < n; i++) {
      for (const g of gs) await g.round();
      clock += 1000;
    }
  };
  return { add, rounds, down, tick: (ms: number) => (clock += ms) };
}

const statusOf = (g: FederationGossip): Record<string, string> => Object.fromEntries(g.members().map((m) => [`${m.Name}.${m.Region}`, m.Status]));

describe("FederationGossip", () => {
  it("a seed makes both regions known to both: the asked one learns of the asker from its push", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    const us = n.add("us1", "us", "us-west-2");
    expect(eu.regions()).toEqual(["europe"]);
    await n.rounds(1, eu);
    expect(eu.regions()).toEqual(["europe", "us"]);
    expect(us.regions()).toEqual(["europe", "us"]);
    expect(eu.datacenters()).toEqual(["europe-west1", "us-west-2"]);
    expect(eu.serverIn("us")?.HTTPAddr).toBe("us1:4646");
    expect(eu.serverIn("europe")).toBeUndefined();
    expect(eu.serverInDatacenter("us-west-2")?.Name).toBe("us1");
    expect(us.serverIn("europe")?.Name).toBe("eu1");
    expect(statusOf(eu)).toEqual({ "eu1.europe": "alive", "us1.us": "alive" });
    expect(eu.members().find((m) => m.Name === "eu1")?.Leader).toBe(true);
  });

  it("a third region joined to one is known to all, transitively", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    const us = n.add("us1", "us", "us-west-2");
    const ap = n.add("ap1", "asia", "asia-east1", ["us1:4646"]);
    await n.rounds(3, eu, us, ap);
    for (const g of [eu, us, ap]) expect(g.regions()).toEqual(["asia", "europe", "us"]);
    expect(eu.serverIn("asia")?.Name).toBe("ap1");
  });

  it("a server that stops answering is failed after 3 missed rounds, not chosen, alive again when it answers, forgotten after a long while", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    n.add("us1", "us", "us-west-2");
    await n.rounds(1, eu);
    n.down.add("us1:4646");
    await n.rounds(2, eu);
    expect(statusOf(eu)["us1.us"]).toBe("alive");
    await n.rounds(1, eu);
    expect(statusOf(eu)["us1.us"]).toBe("failed");
    expect(eu.serverIn("us")).toBeUndefined();
    expect(eu.regions()).toEqual(["europe", "us"]);
    n.down.delete("us1:4646");
    await n.rounds(1, eu);
    expect(statusOf(eu)["us1.us"]).toBe("alive");
    expect(eu.serverIn("us")?.Name).toBe("us1");
    n.down.add("us1:4646");
    await n.rounds(3, eu);
    expect(statusOf(eu)["us1.us"]).toBe("failed");
    n.tick(59_000);
    await n.rounds(1, eu);
    expect(eu.regions()).toEqual(["europe"]);
    expect(statusOf(eu)).toEqual({ "eu1.europe": "alive" });
  });

  it("a push from a server this one cannot reach does not make it alive here", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    const us = n.add("us1", "us", "us-west-2");
    await n.rounds(1, eu);
    n.down.add("eu1:4646");
    await n.rounds(3, us);
    expect(statusOf(us)["eu1.europe"]).toBe("failed");
    // europe still reaches us and pushes its word with each probe: us keeps europe failed.
    await n.rounds(2, eu);
    expect(statusOf(us)["eu1.europe"]).toBe("failed");
    n.down.delete("eu1:4646");
    await n.rounds(1, us);
    expect(statusOf(us)["eu1.europe"]).toBe("alive");
  });

  it("a pushed word only adds servers not yet known: it cannot move a known server elsewhere", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    n.add("us1", "us", "us-west-2");
    await n.rounds(1, eu);
    const member = (name: string, region: string, addr: string) => ({ Name: name, Region: region, Datacenter: "x", HTTPAddr: addr, ConsulAddr: "", Build: "", EtcdMember: "", Status: "alive", Leader: true });
    eu.exchange({ Name: "forger", Region: "us", Members: [member("us1", "us", "evil:1"), member("forger", "us", "evil:2")] });
    expect(eu.serverIn("us")?.HTTPAddr).toBe("us1:4646");
    // The one it added is asked, and its region's answer (us1's) does not hold it: gone after a round.
    await n.rounds(1, eu);
    expect(eu.members().map((m) => m.Name)).not.toContain("forger");
    expect(eu.serverIn("us")?.HTTPAddr).toBe("us1:4646");
  });

  it("survives the loss of a server: the next round asks another server of that region", async () => {
    // Region us has two servers in one cluster: a ClusterView that lists both.
    const probeLog: string[] = [];
    const usMembers = (): ServerInfo[] => [
      { Name: "us1", Region: "us", Datacenter: "us-west-2", HTTPAddr: "us1:4646", ConsulAddr: "", Build: "t", EtcdMember: "" },
      { Name: "us2", Region: "us", Datacenter: "us-west-2", HTTPAddr: "us2:4646", ConsulAddr: "", Build: "t", EtcdMember: "" },
    ];
    const down = new Set<string>();
    const answerOf = (self: ServerInfo) => ({ Name: self.Name, Region: "us", Members: usMembers().map((m) => ({ ...m, Status: down.has(m.HTTPAddr) ? "failed" : "alive", Leader: m.Name === "us1" && !down.has("us1:4646") })) });
    let clock = 0;
    const eu = new FederationGossip({
      cluster: soloCluster({ Name: "eu1", Region: "europe", Datacenter: "europe-west1", HTTPAddr: "eu1:4646", ConsulAddr: "", Build: "t", EtcdMember: "" }),
      probe: (address) => {
        probeLog.push(address);
        const self = usMembers().find((m) => m.HTTPAddr === address);
        if (self === undefined || down.has(address)) return Promise.reject(new Error("refused"));
        return Promise.resolve(answerOf(self));
      },
      seeds: ["us2:4646"],
      now: () => clock,
      elapsed: () => clock,
    });
    await eu.round();
    expect(eu.serverIn("us")?.Name).toBe("us1");
    probeLog.length = 0;
    await eu.round();
    expect(probeLog).toEqual(["us1:4646"]);
    down.add("us1:4646");
    clock += 2000;
    await eu.round();
    // us1 missed once; the next round asks us2, which says us1 failed.
    await eu.round();
    expect(probeLog.slice(-2)).toEqual(["us1:4646", "us2:4646"]);
    expect(statusOf(eu)["us1.us"]).toBe("failed");
    expect(eu.serverIn("us")?.Name).toBe("us2");
  });

  it("a seed that does not answer is tried again, waiting longer each time up to the cap", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1", ["us1:4646"]);
    let asked = 0;
    const g = new FederationGossip({
      cluster: soloCluster({ Name: "x", Region: "x", Datacenter: "x", HTTPAddr: "x:1", ConsulAddr: "", Build: "", EtcdMember: "" }),
      probe: () => {
        asked++;
        return Promise.reject(new Error("refused"));
      },
      seeds: ["nowhere:4646"],
      intervalMs: 1000,
      seedBackoffMaxMs: 4000,
      now: () => t,
    });
    let t = 0;
    const at: number[] = [];
    for (t = 0; t < 20_000; t += 1000) {
      const before = asked;
      await g.round();
      if (asked > before) at.push(t);
    }
    expect(at).toEqual([0, 1000, 3000, 7000, 11_000, 15_000, 19_000]);
    expect(eu.regions()).toEqual(["europe"]);
  });

  it("join asks at once and counts the servers that answered; a server of this region that is not of this cluster is refused", async () => {
    const n = net();
    const eu = n.add("eu1", "europe", "europe-west1");
    n.add("us1", "us", "us-west-2");
    n.add("eu9", "europe", "europe-west1");
    expect(await eu.join(["us1:4646"])).toEqual({ joined: 1, error: "" });
    expect(eu.regions()).toEqual(["europe", "us"]);
    const r = await eu.join(["nowhere:4646", "eu9:4646", "eu1:4646"]);
    expect(r.joined).toBe(1);
    expect(r.error).toContain("nowhere:4646: connect ECONNREFUSED nowhere:4646");
    expect(r.error).toContain("eu9:4646: eu9 at eu9:4646 is a server of this region (europe) but not of this cluster");
  });

  it("refuses a malformed answer, saying where", () => {
    expect(() => parseFederationAnswer({ Name: "a", Region: "r", Members: [{ Name: "a", Region: "r", Datacenter: "d", HTTPAddr: "h:1", Status: "dead" }] })).toThrow('federation answer: Members[0].Status must be "alive", "failed" or "left"');
    expect(() => parseFederationAnswer([])).toThrow("must be a JSON object");
    expect(() => parseFederationAnswer({ Name: "", Region: "r", Members: [] })).toThrow("Name must be a non-empty string");
  });

  it("stop ends the rounds", async () => {
    let asked = 0;
    const g = new FederationGossip({
      cluster: soloCluster({ Name: "x", Region: "x", Datacenter: "x", HTTPAddr: "x:1", ConsulAddr: "", Build: "", EtcdMember: "" }),
      probe: () => {
        asked++;
        return Promise.reject(new Error("refused"));
      },
      seeds: ["nowhere:4646"],
      intervalMs: 10,
      seedBackoffMaxMs: 10,
    });
    g.start();
    await new Promise((r) => setTimeout(r, 100));
    await g.stop();
    const after = asked;
    expect(after).toBeGreaterThan(2);
    await new Promise((r) => setTimeout(r, 60));
    expect(asked).toBe(after);
  });
});
