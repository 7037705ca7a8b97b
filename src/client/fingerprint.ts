import { readFile, stat } from "node:fs/promises";
import os from "node:os";
import type { Driver, DriverFingerprint } from "../drivers/index.js";
import { errorMessage, silentLogger, type ClientHostNetworkConfig, type ClientHostVolumeConfig, type DriverInfo, type Logger, type Node } from "../structs/index.js";
import { withCniFingerprint } from "./cni/index.js";
import { labelNetworks } from "./host-networks.js";

export interface NodeIdentity {
  ID: string;
  SecretID: string;
}

export interface FingerprintConfig {
  name: string;
  datacenter: string;
  nodeClass: string;
  nodePool: string;
  meta: Record<string, string>;
  /** Address tasks are reached on (their ports are published there). */
  ip: string;
  /** The agent's HTTP address, for logs and exec. */
  httpAddr: string;
  minDynamicPort: number;
  maxDynamicPort: number;
  reserved: Node["Reserved"];
  /** The host volumes the agent config offers, by name; each path must exist (checked at fingerprint, as Nomad's client does at start). */
  hostVolumes?: Record<string, ClientHostVolumeConfig>;
  /** The host networks the agent config declares, by name (`client { host_network "NAME" { cidr interface reserved_ports } }`). */
  hostNetworks?: Record<string, ClientHostNetworkConfig>;
  /** The CNI plugins' directories and the networks' config dir (`client { cni_path cni_config_dir }`); absent: no CNI networks. */
  cni?: { path: readonly string[]; configDir: string };
  /** Where a CNI config file that cannot be read is told of. */
  log?: Logger;
}

/** The machine as the scheduler sees it: cpu, memory, kernel, os, drivers and their health. */
export async function fingerprint(id: NodeIdentity, cfg: FingerprintConfig, drivers: readonly Driver[]): Promise<Node> {
  const cpus = os.cpus();
  const cores = Math.max(1, cpus.length);
  const mhz = await cpuMhz(cpus);
  const attrs: Record<string, string> = {
    "kernel.name": os.type().toLowerCase(),
    "kernel.version": os.release().split("-")[0] ?? os.release(),
    "kernel.release": os.release(),
    "os.name": await osName(),
    "cpu.arch": archName(os.arch()),
    "cpu.numcores": String(cores),
    "cpu.frequency": String(mhz),
    "cpu.totalcompute": String(mhz * cores),
    "cpu.modelname": cpus[0]?.model ?? "",
    "memory.totalbytes": String(os.totalmem()),
    "unique.hostname": os.hostname(),
    "unique.network.ip-address": cfg.ip,
    "nomad.version": "1.7.0",
    "ruche.version": "0.1.0",
  };
  let node: Node = {
    ID: id.ID,
    SecretID: id.SecretID,
    Name: cfg.name,
    Datacenter: cfg.datacenter,
    NodeClass: cfg.nodeClass,
    NodePool: cfg.nodePool,
    Attributes: attrs,
    Meta: { ...cfg.meta },
    Drivers: {},
    Resources: {
      CPU: mhz * cores,
      Cores: cores,
      MemoryMB: Math.floor(os.totalmem() / 1024 / 1024),
      DiskMB: 0,
      MinDynamicPort: cfg.minDynamicPort,
      MaxDynamicPort: cfg.maxDynamicPort,
      IP: cfg.ip,
    },
    Reserved: cfg.reserved,
    ComputedClass: "",
    Status: "initializing",
    StatusDescription: "",
    SchedulingEligibility: "eligible",
    DrainStrategy: null,
    HTTPAddr: cfg.httpAddr,
    CreateIndex: 0,
    ModifyIndex: 0,
    LastHeartbeat: 0,
  };
  const volumes = await hostVolumes(cfg.hostVolumes ?? {});
  if (Object.keys(volumes).length > 0) node.HostVolumes = volumes;
  // The interfaces' addresses, each labelled with its host networks (the node's own address "default").
  const hostNetworks = cfg.hostNetworks ?? {};
  if (Object.keys(hostNetworks).length > 0) node.HostNetworks = hostNetworks;
  node.NodeNetworks = labelNetworks(os.networkInterfaces(), hostNetworks, cfg.ip);
  if (cfg.cni !== undefined) node = await withCniFingerprint(node, cfg.cni, cfg.log ?? silentLogger);
  for (const d of drivers) node = withDriverFingerprint(node, d.name, await d.fingerprint()) ?? node;
  return node;
}

/**
 * The node with a driver's new fingerprint in it, as Nomad's client applies one
 * (`updateNodeFromDriver`), or null when nothing the servers see changed. `Drivers[name]`
 * becomes the fingerprint (detected, healthy, its description and attributes); the
 * fingerprint's attributes become node attributes too (an empty value removes one);
 * `driver.NAME` is "1" while the driver is detected, healthy or not, and absent otherwise:
 * health is read from `Drivers[name]`, which the scheduler checks.
 */
export function withDriverFingerprint(node: Node, name: string, f: DriverFingerprint): Node | null {
  const info: DriverInfo = { Detected: f.detected, Healthy: f.healthy, HealthDescription: f.description, Attributes: { ...f.attributes } };
  const old = node.Drivers[name];
  let changed = old === undefined || old.Detected !== info.Detected || old.Healthy !== info.Healthy || old.HealthDescription !== info.HealthDescription;
  const attrs = new Map(Object.entries(node.Attributes));
  for (const [k, v] of Object.entries(info.Attributes)) {
    if (old?.Attributes[k] !== v) changed = true;
    if (v === "") attrs.delete(k);
    else attrs.set(k, v);
  }
  const marker = `driver.${name}`;
  if (info.Detected) attrs.set(marker, "1");
  else attrs.delete(marker);
  if (!changed) return null;
  return { ...node, Attributes: Object.fromEntries(attrs), Drivers: { ...node.Drivers, [name]: info } };
}

/** The host volumes as the node offers them, each path checked to exist (Nomad's client refuses to start otherwise). */
async function hostVolumes(given: Record<string, ClientHostVolumeConfig>): Promise<Record<string, ClientHostVolumeConfig>> {
  const out: Record<string, ClientHostVolumeConfig> = {};
  for (const [name, v] of Object.entries(given)) {
    await stat(v.Path).catch((err: unknown) => {
      throw new Error(`host_volume "${name}": its path ${v.Path} cannot be used: ${errorMessage(err)}`, { cause: err });
    });
    out[name] = { Name: name, Path: v.Path, ReadOnly: v.ReadOnly };
  }
  return out;
}

/** The cpu's speed: what /proc/cpuinfo or os.cpus() says, or the max frequency the kernel knows. */
async function cpuMhz(cpus: os.CpuInfo[]): Promise<number> {
  const fromOs = cpus[0]?.speed ?? 0;
  if (fromOs > 0) return Math.round(fromOs);
  try {
    const max = await readFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "utf8");
    return Math.round(Number(max.trim()) / 1000);
  } catch {
    return 2000;
  }
}

async function osName(): Promise<string> {
  try {
    const text = await readFile("/etc/os-release", "utf8");
    const m = /^ID=("?)([^"\n]+)\1$/m.exec(text);
    if (m?.[2] !== undefined) return m[2];
  } catch {
    // Not a Linux with os-release.
  }
  return os.platform();
}

function archName(a: string): string {
  return a === "x64" ? "amd64" : a === "arm64" ? "arm64" : a;
}
