/**
 * The node's CNI networks with Debian's containernetworking-plugins (/usr/lib/cni) as root:
 * an allocation's namespace of its own (`ip netns`) attached to a conflist of `bridge` (a
 * bridge of this test's own), `host-local` (a private /24, its leases in a temp dir) and
 * `portmap`: the allocation gets an address of the subnet, a server in the namespace answers
 * on it from the host and on the host port portmap publishes; DEL leaves no veth, no lease,
 * no iptables chain behind. A plugin that fails has what the plugins before it did undone.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mock, silentLogger, type Allocation } from "../../structs/index.js";
import { CniConfigurator, makeNetns, removeNetns } from "./configurator.js";
import { readCniCache } from "./network.js";
import { settleStopped } from "../settle.js";

const PLUGINS = "/usr/lib/cni";
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

function needPlugins(): void {
  for (const p of ["bridge", "host-local", "portmap"]) {
    if (!existsSync(join(PLUGINS, p))) throw new Error(`the CNI plugin ${PLUGINS}/${p} is missing: install Debian's containernetworking-plugins (sh scripts/test-deps.sh)`);
  }
  if (process.getuid?.() !== 0) throw new Error("the CNI plugins need root to make bridges, veths and iptables rules: run this test as root");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => {
        resolve(typeof a === "object" && a !== null ? a.port : 0);
      });
    });
  });
}

/** A private /24 unlikely to clash: 10.<random>.<random>.0/24. */
function subnet(): { cidr: string; prefix: string } {
  const [a = 0, b = 0] = randomBytes(2);
  const prefix = `10.${(a % 200) + 40}.${b}`;
  return { cidr: `${prefix}.0/24`, prefix };
}

interface Bed {
  cni: CniConfigurator;
  bridge: string;
  prefix: string;
  network: string;
  cacheDir: string;
  leases: string;
}

function bed(extraPlugins: Record<string, unknown>[] = []): Bed {
  needPlugins();
  const dir = mkdtempSync(join(tmpdir(), "ruche-cni-"));
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const id = randomBytes(3).toString("hex");
  const bridge = `rcni${id}`;
  const network = `ruchetest${id}`;
  const { cidr, prefix } = subnet();
  const leases = join(dir, "leases");
  const conflist = {
    cniVersion: "1.0.0",
    name: network,
    plugins: [
      { type: "bridge", bridge, isGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: cidr }]], dataDir: leases, routes: [{ dst: "0.0.0.0/0" }] } },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
      ...extraPlugins,
    ],
  };
  const configDir = join(dir, "config");
  execFileSync("mkdir", ["-p", configDir]);
  writeFileSync(join(configDir, "10-test.conflist"), JSON.stringify(conflist));
  cleanups.push(() => {
    // The bridge stays after DEL (as with Nomad's): the test's own is removed.
    if (existsSync(`/sys/class/net/${bridge}`)) execFileSync("ip", ["link", "delete", bridge]);
  });
  const cacheDir = join(dir, "cache");
  return { cni: new CniConfigurator({ path: [PLUGINS], configDir, cacheDir }, silentLogger), bridge, prefix, network, cacheDir, leases };
}

function allocIn(network: string, hostPort: number): Allocation {
  const job = mock.job({ id: `cni-${randomBytes(3).toString("hex")}`, driver: "raw_exec" });
  const group = job.TaskGroups[0];
  if (group === undefined) throw new Error("mock job without a group");
  group.Networks = [{ Mode: `cni/${network}`, MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 0, To: 8080, HostNetwork: "default" }], CNI: { Args: { TEAM: "${NOMAD_JOB_ID}" } } }];
  // An id of its own per run: rules a failed run left behind never match another run's.
  const alloc = { ...mock.alloc(job, mock.node(), 0), ID: randomUUID() };
  alloc.Resources.Networks = [{ Mode: `cni/${network}`, MBits: 0, IP: "127.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: hostPort, To: 8080, HostNetwork: "default" }] }];
  return alloc;
}

/** A server in the namespace answering "hello from the namespace" on port 8080. */
function serveIn(netns: string): ChildProcess {
  const child = spawn("nsenter", [`--net=${netns}`, "--", process.execPath, "-e", `require("http").createServer((q,s)=>s.end("hello from the namespace")).listen(8080, "0.0.0.0", () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => child.kill("SIGKILL"));
  return child;
}

async function get(url: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function natRules(): string {
  return execFileSync("iptables-save", ["-t", "nat"], { encoding: "utf8" });
}

describe("an allocation in a CNI network (real plugins)", () => {
  it("gets an address of the subnet, answers on it and on the published host port, and DEL leaves nothing behind", async () => {
    const b = bed();
    const hostPort = await freePort();
    const alloc = allocIn(b.network, hostPort);
    const group = alloc.Job.TaskGroups[0];
    if (group === undefined) throw new Error("no group");
    const netns = await makeNetns(alloc.ID);
    cleanups.push(() => removeNetns(alloc.ID));
    // A test that fails half-way still undoes what the plugins did (before the namespace goes).
    cleanups.push(() => b.cni.teardown(alloc.ID, group));

    const status = await b.cni.setup(alloc, group, mock.node(), netns);
    expect(status.InterfaceName).toBe("eth0");
    expect(status.Address.startsWith(`${b.prefix}.`)).toBe(true);

    const server = serveIn(netns);
    await new Promise<void>((resolve) => server.stdout?.once("data", () => {
        resolve();
      }));
    expect(await get(`http://${status.Address}:8080/`)).toBe("hello from the namespace");
    expect(await get(`http://127.0.0.1:${hostPort}/`)).toBe("hello from the namespace");

    // The veth's host end is on the test's bridge; portmap's chain names the allocation.
    const veths = readdirSync(`/sys/class/net/${b.bridge}/brif`);
    expect(veths.length).toBe(1);
    expect(natRules()).toContain(`"dnat name: \\"${b.network}\\" id: \\"${alloc.ID}\\""`);
    // What ADD did is cached for DEL after a restart; the same namespace found again is not wired twice.
    expect(await readCniCache(b.cacheDir, b.network, alloc.ID, "eth0")).toBeDefined();
    expect((await b.cni.setup(alloc, group, mock.node(), netns)).Address).toBe(status.Address);
    expect(readdirSync(`/sys/class/net/${b.bridge}/brif`).length).toBe(1);

    await b.cni.teardown(alloc.ID, group);
    expect(readdirSync(`/sys/class/net/${b.bridge}/brif`)).toEqual([]);
    expect(natRules()).not.toContain(alloc.ID);
    expect(readdirSync(join(b.leases, b.network)).filter((f) => f.startsWith(b.prefix))).toEqual([]);
    expect(await readCniCache(b.cacheDir, b.network, alloc.ID, "eth0")).toBeUndefined();
  });

  it("detaches an allocation the servers stopped while no runner held it (an agent restarted), from the cache alone", async () => {
    const b = bed();
    const hostPort = await freePort();
    const alloc = allocIn(b.network, hostPort);
    const group = alloc.Job.TaskGroups[0];
    if (group === undefined) throw new Error("no group");
    const netns = await makeNetns(alloc.ID);
    cleanups.push(() => removeNetns(alloc.ID));
    // A test that fails half-way still undoes what the plugins did (before the namespace goes).
    cleanups.push(() => b.cni.teardown(alloc.ID, group));
    await b.cni.setup(alloc, group, mock.node(), netns);
    expect(readdirSync(`/sys/class/net/${b.bridge}/brif`).length).toBe(1);

    // A new agent process: another configurator, the same cache; the settle path's network removal.
    const again = new CniConfigurator(b.cni.settings, silentLogger);
    const allocRoot = join(b.cacheDir, "..", "alloc");
    await settleStopped({ ...alloc, DesiredStatus: "stop" }, { node: mock.node(), drivers: new Map(), allocRoot, log: silentLogger, cni: again });
    expect(readdirSync(`/sys/class/net/${b.bridge}/brif`)).toEqual([]);
    expect(natRules()).not.toContain(alloc.ID);
    expect(existsSync(netns)).toBe(false);
  });

  it("undoes what the plugins before a failing one did, and says which failed", async () => {
    const b = bed([{ type: "no-such-plugin" }]);
    const alloc = allocIn(b.network, await freePort());
    const group = alloc.Job.TaskGroups[0];
    if (group === undefined) throw new Error("no group");
    const netns = await makeNetns(alloc.ID);
    cleanups.push(() => removeNetns(alloc.ID));
    // A test that fails half-way still undoes what the plugins did (before the namespace goes).
    cleanups.push(() => b.cni.teardown(alloc.ID, group));
    await expect(b.cni.setup(alloc, group, mock.node(), netns)).rejects.toThrow(/failed to configure network: failed to find plugin "no-such-plugin"/);
    expect(readdirSync(`/sys/class/net/${b.bridge}/brif`)).toEqual([]);
    expect(natRules()).not.toContain(alloc.ID);
  });

  it("refuses a network the config dir does not hold, as Nomad says it", async () => {
    const b = bed();
    const alloc = allocIn("elsewhere", await freePort());
    const group = alloc.Job.TaskGroups[0];
    if (group === undefined) throw new Error("no group");
    await expect(b.cni.setup(alloc, group, mock.node(), "/proc/self/ns/net")).rejects.toThrow(/CNI network config not found for name "elsewhere"/);
  });
});
