/** A service with address_mode "alloc" (Nomad's `GetAddress`): the allocation's own address (its CNI network's), on the port inside it. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, type Allocation, type Job, type Node } from "../structs/index.js";
import { StoreCatalog } from "./catalog.js";

let store: StateStore;
let node: Node;
let job: Job;

function alloc(network?: Allocation["NetworkStatus"]): Allocation {
  const a = mock.alloc(job, node, 0, {
    ClientStatus: "running",
    Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "cni/mynet", MBits: 0, IP: "10.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 25000, To: 8080, HostNetwork: "" }] }] },
  });
  if (network !== undefined) a.NetworkStatus = network;
  return a;
}

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  node = mock.node({ name: "n1", datacenter: "dc1" });
  job = mock.job({ id: "web" });
  const tg = job.TaskGroups[0]!;
  const service = { PortLabel: "http", Tags: [], CanaryTags: [], Meta: {}, TaskName: "", Checks: [] };
  tg.Services = [
    { ...service, Name: "inside", AddressMode: "alloc" },
    { ...service, Name: "outside", AddressMode: "auto" },
  ];
  await store.write((tx) => {
    tx.put("nodes", node);
  });
});

afterEach(async () => {
  await store.close();
});

describe("a service with address_mode alloc", () => {
  it("advertises the allocation's own address and the port inside it, beside a service in mode auto on the host's", async () => {
    await store.write((tx) => {
      tx.put("allocs", alloc({ InterfaceName: "eth0", Address: "10.88.0.5", AddressIPv6: "", DNS: null }));
    });
    const catalog = new StoreCatalog(store, "dc1");
    expect(catalog.instances("inside").map((i) => [i.Address, i.Port])).toEqual([["10.88.0.5", 8080]]);
    expect(catalog.instances("outside").map((i) => [i.Address, i.Port])).toEqual([["10.0.0.1", 25000]]);
  });

  it("is not registered while the node has reported no address for the allocation, as Nomad's", async () => {
    await store.write((tx) => {
      tx.put("allocs", alloc());
    });
    const catalog = new StoreCatalog(store, "dc1");
    expect(catalog.instances("inside")).toEqual([]);
    expect(catalog.instances("outside")).toHaveLength(1);
  });
});

describe("a service with address_mode alloc_ipv6", () => {
  it("advertises the allocation's IPv6 address, and is not registered while it has none", async () => {
    job.TaskGroups[0]!.Services = [{ PortLabel: "http", Tags: [], CanaryTags: [], Meta: {}, TaskName: "", Checks: [], Name: "six", AddressMode: "alloc_ipv6" }];
    const a = alloc({ InterfaceName: "eth0", Address: "10.88.0.5", AddressIPv6: "fd00::5", DNS: null });
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    expect(new StoreCatalog(store, "dc1").instances("six").map((i) => [i.Address, i.Port])).toEqual([["fd00::5", 8080]]);
    await store.write((tx) => {
      tx.put("allocs", { ...a, NetworkStatus: { InterfaceName: "eth0", Address: "10.88.0.5", AddressIPv6: "", DNS: null } });
    });
    expect(new StoreCatalog(store, "dc1").instances("six")).toEqual([]);
  });
});
