import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeNodeClass, describeFailure, mock, type Allocation, type Job, type Node, type NodeNetworkResource } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

/** A node whose own address is 10.0.0.1 and whose interfaces carry these host networks: alias → addresses. */
function nodeWith(networks: Record<string, string[]>, o: { reservedPorts?: string; hostReserved?: Record<string, string>; meta?: Record<string, string> } = {}): Node {
  const n = mock.node(o.meta === undefined ? {} : { meta: o.meta });
  const addresses = [{ alias: "default", address: n.Resources.IP }, ...Object.entries(networks).flatMap(([alias, list]) => list.map((address) => ({ alias, address })))];
  const nets: NodeNetworkResource[] = [
    {
      Mode: "host",
      Device: "eth0",
      MacAddress: "",
      Speed: 1000,
      Addresses: addresses.map((a) => ({ Family: "ipv4", Alias: a.alias, Address: a.address, ReservedPorts: o.hostReserved?.[a.alias] ?? "", Gateway: "" })),
    },
  ];
  n.NodeNetworks = nets;
  n.HostNetworks = Object.fromEntries(Object.keys(networks).map((name) => [name, { Name: name, CIDR: "", Interface: "", ReservedPorts: o.hostReserved?.[name] ?? "" }]));
  if (o.reservedPorts !== undefined) n.Reserved = { ...n.Reserved, ReservedHostPorts: o.reservedPorts };
  n.ComputedClass = computeNodeClass(n);
  return n;
}

/** A job whose group asks for ports: label → [host network, static port or 0 for a dynamic one]. */
function jobWith(ports: Record<string, [string, number]>, count = 1, id = "web"): Job {
  const job = mock.job({ id, count });
  const tg = job.TaskGroups[0]!;
  tg.Networks = [
    {
      Mode: "host",
      MBits: 0,
      IP: "",
      ReservedPorts: Object.entries(ports)
        .filter(([, [, v]]) => v > 0)
        .map(([Label, [HostNetwork, Value]]) => ({ Label, Value, To: 0, HostNetwork })),
      DynamicPorts: Object.entries(ports)
        .filter(([, [, v]]) => v === 0)
        .map(([Label, [HostNetwork]]) => ({ Label, Value: 0, To: 0, HostNetwork })),
    },
  ];
  return job;
}

function run(job: Job, nodes: Node[], allocs: Allocation[] = []) {
  const view = new MemoryView({ nodes, allocs, jobs: [job], deployments: [] });
  return schedule(mock.evaluation(job), view, NOW);
}

const placedOf = (r: ReturnType<typeof run>): Allocation[] => Object.values(r.plan.NodeAllocation).flat();

/** The placed allocations as running ones, to schedule other jobs beside them. */
const running = (list: Allocation[]): Allocation[] => list.map((a) => ({ ...a, ClientStatus: "running", CreateIndex: 5, ModifyIndex: 5 }));

describe("host networks in placement", () => {
  it("places a port on a host network only on a node that has it, on that network's address", () => {
    const plain = mock.node();
    const lan = nodeWith({ lan: ["192.168.1.10"] });
    const r = run(jobWith({ http: ["lan", 0], admin: ["lan", 8080], own: ["default", 0] }, 3), [plain, lan]);
    const placed = placedOf(r);
    expect(placed).toHaveLength(1);
    expect(placed[0]?.NodeID).toBe(lan.ID);
    const net = placed[0]!.Resources.Networks[0]!;
    expect(net.IP).toBe("10.0.0.1");
    expect(net.ReservedPorts).toEqual([{ Label: "admin", Value: 8080, To: 8080, HostNetwork: "lan", HostIP: "192.168.1.10" }]);
    const http = net.DynamicPorts.find((p) => p.Label === "http");
    const own = net.DynamicPorts.find((p) => p.Label === "own");
    expect(http?.HostIP).toBe("192.168.1.10");
    expect(http?.Value).toBeGreaterThanOrEqual(20000);
    // A port on the node's own address carries no HostIP: the network's IP is its address.
    expect(own?.HostIP).toBeUndefined();
    // Two more asked for: the static port 8080 on the one "lan" address is taken by the first.
    expect(r.failed.web?.DimensionExhausted["network: reserved port collision admin=8080"]).toBeGreaterThan(0);
  });

  it("says which host network a node lacks, in Nomad's words", () => {
    const r = run(jobWith({ dns: ["IOT", 53] }), [mock.node(), nodeWith({ kids: ["192.168.2.1"] })]);
    expect(placedOf(r)).toEqual([]);
    const m = r.failed.web!;
    expect(m.ConstraintFiltered).toEqual({ 'missing host network "IOT" for port "dns"': 2 });
    expect(describeFailure(m)).toContain('missing host network "IOT" for port "dns"');
  });

  it("counts ports per address: the same static port on two addresses of the node does not collide", () => {
    const node = nodeWith({ lo: ["127.0.0.1"] });
    const first = placedOf(run(jobWith({ http: ["default", 8080] }, 1, "a"), [node]));
    expect(first).toHaveLength(1);
    const second = placedOf(run(jobWith({ http: ["lo", 8080] }, 1, "b"), [node], running(first)));
    expect(second).toHaveLength(1);
    expect(second[0]!.Resources.Networks[0]!.ReservedPorts[0]?.HostIP).toBe("127.0.0.1");
    // A third on the same address as the second collides.
    const third = run(jobWith({ http: ["lo", 8080] }, 1, "c"), [node], running([...first, ...second]));
    expect(placedOf(third)).toEqual([]);
    expect(third.failed.web?.DimensionExhausted).toEqual({ "network: reserved port collision http=8080": 1 });
  });

  it("takes the next address of a host network where the port is free, as Nomad's AssignPorts", () => {
    const node = nodeWith({ lan: ["192.168.1.10", "192.168.1.11"] });
    const first = placedOf(run(jobWith({ http: ["lan", 9000] }, 1, "a"), [node]));
    const second = placedOf(run(jobWith({ http: ["lan", 9000] }, 1, "b"), [node], running(first)));
    expect([first[0]!.Resources.Networks[0]!.ReservedPorts[0]?.HostIP, second[0]!.Resources.Networks[0]!.ReservedPorts[0]?.HostIP]).toEqual(["192.168.1.10", "192.168.1.11"]);
  });

  it("keeps the node's reserved ports on every address, and a host network's own reserved ports on its addresses", () => {
    const node = nodeWith({ lan: ["192.168.1.10"] }, { reservedPorts: "22", hostReserved: { lan: "80" } });
    expect(placedOf(run(jobWith({ ssh: ["lan", 22] }), [node]))).toEqual([]);
    expect(placedOf(run(jobWith({ web: ["lan", 80] }), [node]))).toEqual([]);
    // Port 80 on the node's own address is free: the host network's reservation is its own.
    expect(placedOf(run(jobWith({ web: ["default", 80] }), [node]))).toHaveLength(1);
  });

  it("reads a ${meta.*} host network on each node", () => {
    const a = nodeWith({ lan: ["192.168.1.10"] }, { meta: { net: "lan" } });
    const b = nodeWith({ lan: ["192.168.1.20"] }, { meta: { net: "wan" } });
    const placed = placedOf(run(jobWith({ http: ["${meta.net}", 0] }, 2), [a, b]));
    expect(placed.map((x) => x.NodeID)).toEqual([a.ID, a.ID]);
    expect(placed[0]!.Resources.Networks[0]!.DynamicPorts[0]?.HostIP).toBe("192.168.1.10");
  });

  it("tells nodes with different host networks apart by class, and nodes without any as before", () => {
    const a = nodeWith({ lan: ["192.168.1.10"] });
    const b = nodeWith({ wan: ["203.0.113.5"] });
    const c = nodeWith({});
    expect(new Set([a.ComputedClass, b.ComputedClass, c.ComputedClass]).size).toBe(3);
    expect(c.ComputedClass).toBe(mock.node().ComputedClass);
  });
});

describe("host network ports, over random clusters", () => {
  const NETS = ["default", "lan", "wan"] as const;
  const addressOf = (node: number, net: string, i: number): string => (net === "default" ? "10.0.0.1" : `192.168.${node}.${net === "lan" ? 10 + i : 20 + i}`);

  it("never books one port twice on one address, and places a port whenever one of its network's addresses has it free", () => {
    fc.assert(
      fc.property(
        // Per node: how many addresses it has on "lan" and on "wan" (0: it lacks the network); "wan" may share the node's own address.
        fc.array(fc.record({ lan: fc.integer({ min: 0, max: 2 }), wan: fc.integer({ min: 0, max: 1 }), wanIsOwn: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        // Jobs placed one after the other: a static port on a network, and a dynamic one on another.
        fc.array(fc.record({ net: fc.constantFrom(...NETS), port: fc.constantFrom(80, 81), dyn: fc.constantFrom(...NETS) }), { minLength: 1, maxLength: 12 }),
        (specs, jobs) => {
          const nodes = specs.map((s, i) => {
            const n = nodeWith({ ...(s.lan > 0 ? { lan: Array.from({ length: s.lan }, (_, k) => addressOf(i, "lan", k)) } : {}), ...(s.wan > 0 ? { wan: [s.wanIsOwn ? "10.0.0.1" : addressOf(i, "wan", 0)] } : {}) });
            return n;
          });
          const addresses = (n: Node, net: string): string[] => (net === "default" ? [n.Resources.IP] : (n.NodeNetworks ?? []).flatMap((x) => x.Addresses.filter((a) => a.Alias === net).map((a) => a.Address)));
          let live: Allocation[] = [];
          jobs.forEach((j, k) => {
            const used = (n: Node): Set<string> => new Set(live.filter((a) => a.NodeID === n.ID).flatMap((a) => a.Resources.Networks.flatMap((net) => [...net.ReservedPorts, ...net.DynamicPorts].map((p) => `${p.HostIP ?? net.IP}:${p.Value}`))));
            const possible = nodes.some((n) => addresses(n, j.dyn).length > 0 && addresses(n, j.net).some((a) => !used(n).has(`${a}:${j.port}`)));
            const placed = placedOf(run(jobWith({ s: [j.net, j.port], d: [j.dyn, 0] }, 1, `job-${k}`), nodes, running(live)));
            expect(placed.length, `job ${k} (${JSON.stringify(j)})`).toBe(possible ? 1 : 0);
            for (const a of placed) {
              const node = nodes.find((n) => n.ID === a.NodeID)!;
              const net = a.Resources.Networks[0]!;
              for (const p of [...net.ReservedPorts, ...net.DynamicPorts]) expect(addresses(node, p.HostNetwork)).toContain(p.HostIP ?? net.IP);
            }
            live = [...live, ...running(placed)];
          });
          for (const n of nodes) {
            const booked = live.filter((a) => a.NodeID === n.ID).flatMap((a) => a.Resources.Networks.flatMap((net) => [...net.ReservedPorts, ...net.DynamicPorts].map((p) => `${p.HostIP ?? net.IP}:${p.Value}`)));
            expect(new Set(booked).size).toBe(booked.length);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
