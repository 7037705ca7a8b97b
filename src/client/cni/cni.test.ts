/**
 * The CNI pieces that need no root: reading a config dir as Nomad does, what a plugin is run
 * with (its environment and its stdin, as libcni builds them), the allocation's address read
 * from a result, its CNI_ARGS and port mappings, and the node's fingerprint.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mock, silentLogger, type Allocation, type Logger, type TaskGroup } from "../../structs/index.js";
import { findCniNetwork, loadCniNetworks, parseCniConfig, splitCniPath } from "./config.js";
import { cniArgs, cniPortMappings, CniConfigurator, supportsCheck } from "./configurator.js";
import { withCniFingerprint } from "./fingerprint.js";
import { allocNetworkStatus, pluginStdin, type CniAttachment } from "./network.js";
import { execPlugin, pluginEnv } from "./plugin.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ruche-cni-unit-"));
  dirs.push(d);
  return d;
}

function recordingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { log: { ...silentLogger, warn: (f, m) => warnings.push(`${m} ${JSON.stringify(f)}`) }, warnings };
}

describe("the CNI config dir", () => {
  it("offers each network by its name: conflists, single confs and .json files, in name order; bad files and second names are logged and skipped", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "10-web.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "web", plugins: [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }] }));
    writeFileSync(join(dir, "20-single.conf"), JSON.stringify({ cniVersion: "0.4.0", name: "single", type: "bridge" }));
    writeFileSync(join(dir, "30-other.json"), JSON.stringify({ name: "other", type: "macvlan" }));
    writeFileSync(join(dir, "40-broken.conflist"), "{ not json");
    writeFileSync(join(dir, "50-web-again.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "web", plugins: [{ type: "ptp" }] }));
    writeFileSync(join(dir, "60-noplugins.conflist"), JSON.stringify({ name: "empty", plugins: [] }));
    writeFileSync(join(dir, "README.md"), "not a config");
    const { log, warnings } = recordingLog();
    const nets = await loadCniNetworks(dir, log);
    expect([...nets.keys()]).toEqual(["web", "single", "other"]);
    expect(nets.get("web")?.plugins.map((p) => p.type)).toEqual(["bridge", "portmap"]);
    expect(nets.get("single")?.plugins).toEqual([{ cniVersion: "0.4.0", name: "single", type: "bridge" }]);
    expect(nets.get("other")?.cniVersion).toBe("0.1.0");
    expect(warnings.join("\n")).toMatch(/40-broken\.conflist.*not JSON/);
    expect(warnings.join("\n")).toMatch(/duplicate CNI config names found, ignoring file.*50-web-again/);
    expect(warnings.join("\n")).toMatch(/60-noplugins\.conflist: a \.conflist needs a non-empty \\"plugins\\" list/);
    await expect(findCniNetwork(dir, "nope", silentLogger)).rejects.toThrow('CNI network config not found for name "nope"');
    expect(await loadCniNetworks(join(dir, "missing"), silentLogger)).toEqual(new Map());
  });

  it("refuses a config without a name or a type, saying which", () => {
    expect(() => parseCniConfig(JSON.stringify({ type: "bridge" }), "a.conf")).toThrow('a.conf: the network has no "name"');
    expect(() => parseCniConfig(JSON.stringify({ name: "n" }), "a.conf")).toThrow('a.conf: the network needs a "type"');
    expect(() => parseCniConfig(JSON.stringify({ name: "n", plugins: [{}] }), "a.conflist")).toThrow('a.conflist: plugins[0] needs a "type"');
  });

  it("splits cni_path on colons, as Nomad's", () => {
    expect(splitCniPath("/opt/cni/bin:/usr/lib/cni")).toEqual(["/opt/cni/bin", "/usr/lib/cni"]);
    expect(splitCniPath("/usr/lib/cni:")).toEqual(["/usr/lib/cni"]);
  });
});

const att: CniAttachment = {
  containerId: "alloc-1",
  netns: "/proc/42/ns/net",
  ifName: "eth0",
  args: [
    ["IgnoreUnknown", "true"],
    ["NOMAD_ALLOC_ID", "alloc-1"],
  ],
  capabilityArgs: { portMappings: [{ hostPort: 25000, containerPort: 8080, protocol: "tcp", hostIP: "10.0.0.5" }] },
};

describe("a plugin's invocation", () => {
  it("has the CNI parameters in its environment, over the agent's own", () => {
    const env = pluginEnv({ command: "ADD", containerId: "alloc-1", netns: "/proc/42/ns/net", ifName: "eth0", args: att.args, path: ["/opt/cni/bin", "/usr/lib/cni"] }, { PATH: "/usr/bin", CNI_COMMAND: "stale" });
    expect(env).toEqual({
      PATH: "/usr/bin",
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "alloc-1",
      CNI_NETNS: "/proc/42/ns/net",
      CNI_IFNAME: "eth0",
      CNI_ARGS: "IgnoreUnknown=true;NOMAD_ALLOC_ID=alloc-1",
      CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
    });
  });

  it("reads on stdin its config with the network's name and version, the previous result, and runtimeConfig for the capabilities it declares", () => {
    const net = { name: "web", cniVersion: "1.0.0" };
    const prev = { cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }] };
    expect(pluginStdin(net, { type: "portmap", capabilities: { portMappings: true }, snat: true }, att, prev)).toEqual({
      type: "portmap",
      capabilities: { portMappings: true },
      snat: true,
      name: "web",
      cniVersion: "1.0.0",
      prevResult: prev,
      runtimeConfig: { portMappings: [{ hostPort: 25000, containerPort: 8080, protocol: "tcp", hostIP: "10.0.0.5" }] },
    });
    // No capability asked for: no runtimeConfig; the first plugin: no prevResult.
    expect(pluginStdin(net, { type: "bridge", bridge: "cni0" }, att, null)).toEqual({ type: "bridge", bridge: "cni0", name: "web", cniVersion: "1.0.0" });
    expect(pluginStdin(net, { type: "bridge", capabilities: { portMappings: false } }, att, null)).not.toHaveProperty("runtimeConfig");
  });

  it("a plugin that fails rejects with the error it printed", async () => {
    const dir = tempDir();
    const plugin = join(dir, "failing");
    writeFileSync(plugin, `#!/bin/sh\ncat >/dev/null\necho '{"cniVersion":"1.0.0","code":11,"msg":"try again later","details":"busy"}'\nexit 1\n`);
    chmodSync(plugin, 0o755);
    await expect(execPlugin("failing", { command: "ADD", containerId: "c", netns: "/x", ifName: "eth0", args: [], path: [dir] }, { name: "n" })).rejects.toThrow('plugin type="failing" failed (11): try again later: busy');
    await expect(execPlugin("absent", { command: "ADD", containerId: "c", netns: "/x", ifName: "eth0", args: [], path: [dir] }, {})).rejects.toThrow(`failed to find plugin "absent" in path [${dir}]`);
  });
});

describe("the allocation's network from a result", () => {
  it("is the first interface in the namespace with an address, as Nomad's cniToAllocNet", () => {
    const result = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "cni0", mac: "aa" }, { name: "vethabc", mac: "bb" }, { name: "eth0", mac: "cc", sandbox: "/proc/42/ns/net" }],
      ips: [
        { address: "10.88.0.1/24", interface: 0 },
        { address: "fd00::5/64", interface: 2 },
        { address: "10.88.0.5/24", gateway: "10.88.0.1", interface: 2 },
      ],
      dns: { nameservers: ["10.88.0.1"], search: ["svc"], options: ["ndots:2"] },
    };
    expect(allocNetworkStatus(result)).toEqual({ InterfaceName: "eth0", Address: "10.88.0.5", AddressIPv6: "fd00::5", DNS: { Servers: ["10.88.0.1"], Searches: ["svc"], Options: ["ndots:2"] } });
  });

  it("falls back to any interface with an address, takes IPv6 when there is no IPv4, and refuses a result without addresses", () => {
    expect(allocNetworkStatus({ interfaces: [{ name: "net1" }], ips: [{ address: "fd00::7/64", interface: 0 }] })).toEqual({ InterfaceName: "net1", Address: "fd00::7", AddressIPv6: "fd00::7", DNS: null });
    expect(allocNetworkStatus({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.9/16" } }).Address).toBe("10.1.0.9");
    expect(() => allocNetworkStatus({ interfaces: [{ name: "eth0", sandbox: "/x" }], ips: [] })).toThrow("no interfaces found");
  });
});

describe("an allocation's CNI arguments and ports", () => {
  const job = mock.job({ id: "web", driver: "docker" });
  const group = job.TaskGroups[0];
  if (group === undefined) throw new Error("mock job without a group");
  group.Networks = [{ Mode: "cni/web", MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [], CNI: { Args: { TEAM: "${NOMAD_JOB_NAME}", BAD: "a;b", NOMAD_ALLOC_ID: "overridden?" } } }];
  const node = mock.node();
  const alloc = mock.alloc(job, node, 0);
  alloc.Resources.Networks = [{ Mode: "cni/web", MBits: 0, IP: "10.0.0.5", ReservedPorts: [{ Label: "admin", Value: 9000, To: 0, HostNetwork: "default" }], DynamicPorts: [{ Label: "http", Value: 25000, To: 8080, HostNetwork: "default" }] }];

  it("passes IgnoreUnknown, the group's args interpolated, then the allocation's own; a value with ';' is left out", () => {
    expect(cniArgs(alloc, group, node)).toEqual([
      ["IgnoreUnknown", "true"],
      ["TEAM", "web"],
      ["NOMAD_ALLOC_ID", alloc.ID],
      ["NOMAD_REGION", job.Region],
      ["NOMAD_NAMESPACE", alloc.Namespace],
      ["NOMAD_JOB_ID", "web"],
      ["NOMAD_GROUP_NAME", group.Name],
    ]);
  });

  it("maps each port, tcp and udp, from its host port to its to (its host port when unset), on the address it was placed on", () => {
    expect(cniPortMappings(alloc)).toEqual([
      { hostPort: 9000, containerPort: 9000, protocol: "tcp", hostIP: "10.0.0.5" },
      { hostPort: 9000, containerPort: 9000, protocol: "udp", hostIP: "10.0.0.5" },
      { hostPort: 25000, containerPort: 8080, protocol: "tcp", hostIP: "10.0.0.5" },
      { hostPort: 25000, containerPort: 8080, protocol: "udp", hostIP: "10.0.0.5" },
    ]);
  });
});

describe("the node's CNI fingerprint", () => {
  it("offers cni/<name> for each network and plugins.cni.version.<plugin> for each plugin that says its version", async () => {
    const dir = tempDir();
    const conf = join(dir, "conf");
    const bin = join(dir, "bin");
    mkdirSync(conf);
    mkdirSync(bin);
    writeFileSync(join(conf, "a.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "mynet", plugins: [{ type: "bridge" }] }));
    writeFileSync(join(conf, "b.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "other", type: "macvlan" }));
    writeFileSync(join(bin, "versioned"), "#!/bin/sh\necho 'CNI versioned plugin v1.4.1'\necho 'CNI protocol versions supported: 0.1.0, 1.0.0'\n");
    writeFileSync(join(bin, "unknown"), "#!/bin/sh\necho 'CNI unknown plugin version unknown'\n");
    writeFileSync(join(bin, "notexec"), "v9.9.9");
    chmodSync(join(bin, "versioned"), 0o755);
    chmodSync(join(bin, "unknown"), 0o755);
    const before = mock.node({ attributes: { "plugins.cni.version.gone": "v0.1.0" } });
    const node = await withCniFingerprint(before, { path: [bin], configDir: conf }, silentLogger);
    expect(node.Resources.Networks).toEqual([{ Mode: "cni/mynet" }, { Mode: "cni/other" }]);
    expect(Object.entries(node.Attributes).filter(([k]) => k.startsWith("plugins.cni."))).toEqual([["plugins.cni.version.versioned", "v1.4.1"]]);
    expect(node.Attributes["kernel.name"]).toBe("linux");
    const none = await withCniFingerprint(before, { path: [join(dir, "nope")], configDir: join(dir, "nope") }, silentLogger);
    expect(none.Resources.Networks).toBeUndefined();
  });
});

describe("checking a network found again", () => {
  it("is done with a bridge plugin of 1.3.0 or later only, as Nomad's", () => {
    const withBridge = (v: string) => mock.node({ attributes: { "plugins.cni.version.bridge": v } });
    expect(supportsCheck(withBridge("v1.3.0"))).toBe(true);
    expect(supportsCheck(withBridge("1.4.1"))).toBe(true);
    expect(supportsCheck(withBridge("v2.0.0"))).toBe(true);
    expect(supportsCheck(withBridge("v1.1.1"))).toBe(false);
    expect(supportsCheck(mock.node())).toBe(false);
  });
});

describe("attaching an allocation", () => {
  /** A network of one plugin that fails its first `fails` ADDs ("busy N") and then gives 10.9.0.5; what it was asked is in `calls`. */
  function flaky(fails: number): { cni: CniConfigurator; calls: () => string[]; warnings: string[] } {
    const dir = tempDir();
    for (const d of ["bin", "conf", "cache"]) mkdirSync(join(dir, d));
    const calls = join(dir, "calls");
    writeFileSync(calls, "");
    const result = JSON.stringify({ cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: "/x" }], ips: [{ address: "10.9.0.5/24", interface: 0 }] });
    writeFileSync(
      join(dir, "bin", "flaky"),
      `#!/bin/sh\ncat >/dev/null\necho "$CNI_COMMAND" >> ${calls}\n[ "$CNI_COMMAND" = DEL ] && exit 0\nn=$(grep -c ADD ${calls})\nif [ "$n" -le ${fails} ]; then echo '{"cniVersion":"1.0.0","code":11,"msg":"busy '$n'"}'; exit 1; fi\necho '${result}'\n`,
    );
    chmodSync(join(dir, "bin", "flaky"), 0o755);
    writeFileSync(join(dir, "conf", "flaky.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "flaky", plugins: [{ type: "flaky" }] }));
    const { log, warnings } = recordingLog();
    const cni = new CniConfigurator({ path: [join(dir, "bin")], configDir: join(dir, "conf"), cacheDir: join(dir, "cache") }, log, 1);
    return { cni, calls: () => readFileSync(calls, "utf8").split("\n").filter((l) => l !== ""), warnings };
  }
  function allocOn(network: string): { alloc: Allocation; group: TaskGroup } {
    const job = mock.job({ id: "cni-retry", driver: "raw_exec" });
    const group = job.TaskGroups[0] as TaskGroup;
    group.Networks = [{ Mode: `cni/${network}`, MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [] }];
    return { alloc: mock.alloc(job, mock.node(), 0), group };
  }

  it("tries ADD again after a failure, undoing each failed one, as Nomad does", async () => {
    const f = flaky(2);
    const { alloc, group } = allocOn("flaky");
    expect((await f.cni.setup(alloc, group, mock.node(), "/proc/self/ns/net")).Address).toBe("10.9.0.5");
    expect(f.calls()).toEqual(["ADD", "DEL", "ADD", "DEL", "ADD"]);
    expect(f.warnings.filter((w) => w.startsWith("failed to configure network"))).toHaveLength(2);
  });

  it("gives up after three tries, saying the first failure", async () => {
    const f = flaky(5);
    const { alloc, group } = allocOn("flaky");
    await expect(f.cni.setup(alloc, group, mock.node(), "/proc/self/ns/net")).rejects.toThrow('failed to configure network: plugin type="flaky" failed (11): busy 1');
    expect(f.calls()).toEqual(["ADD", "DEL", "ADD", "DEL", "ADD", "DEL"]);
  });
});
