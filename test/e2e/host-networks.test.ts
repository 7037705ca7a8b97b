/**
 * Host networks on a real dev agent: its node is reached on the machine's own address
 * (-network-ip, the host network "default") and its config declares
 * `host_network "lo" { cidr = "127.0.0.0/8" }`. The node reports both in Nomad's shape
 * (`HostNetworks`, `NodeResources.NodeNetworks` with each address's alias). A docker task's
 * port on "lo" is published on 127.0.0.1 only, its other port on the node's address only;
 * the port's service (provider "nomad") is registered on 127.0.0.1, and `alloc status` and
 * the API's `AllocatedResources.Shared.Ports` (`HostIP`, Nomad's) show it there. A raw_exec task sees its "lo" port in NOMAD_IP_/NOMAD_HOST_IP_/NOMAD_ADDR_. A
 * port on a host network the node lacks is not placed, and `job status` says so in Nomad's
 * words. Needs Docker and an IPv4 address besides the loopback.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let agent: AgentProcess | undefined;
/** The machine's own address (not a loopback one): the node's default network. */
let ownIp = "";

const WEB = `job "hn-web" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "local" {
        to           = 80
        host_network = "lo"
      }
      port "public" {
        to = 80
      }
    }
    service {
      name     = "hn-web-local"
      port     = "local"
      provider = "nomad"
    }
    task "web" {
      driver = "docker"
      config {
        image = "ruche-test/httpd:latest"
        ports = ["local", "public"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const ENV = `job "hn-env" {
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {
    network {
      port "p" {
        host_network = "lo"
      }
    }
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "show" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ip=$NOMAD_IP_p host_ip=$NOMAD_HOST_IP_p addr=$NOMAD_ADDR_p port=$NOMAD_PORT_p"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const NOWHERE = `job "hn-nowhere" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "dns" {
        static       = 5353
        host_network = "IOT"
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
`;

/** Whether something accepts TCP connections on the address. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      resolve(false);
    });
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

beforeAll(async () => {
  const own = Object.entries(networkInterfaces())
    .filter(([name]) => !name.startsWith("docker") && !name.startsWith("br-") && !name.startsWith("veth"))
    .flatMap(([, infos]) => infos ?? [])
    .find((i) => i.family === "IPv4" && !i.internal);
  if (own === undefined) throw new Error("this test needs a network interface with an IPv4 address other than the loopback, for the node's own address");
  ownIp = own.address;
  dir = mkdtempSync(join(tmpdir(), "ruche-host-networks-e2e-"));
  writeFileSync(join(dir, "agent.hcl"), `client {\n  host_network "lo" {\n    cidr = "127.0.0.0/8"\n  }\n}\n`);
  writeFileSync(join(dir, "web.hcl"), WEB);
  writeFileSync(join(dir, "env.hcl"), ENV);
  writeFileSync(join(dir, "nowhere.hcl"), NOWHERE);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-network-ip", ownIp, "-config", join(dir, "agent.hcl")]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  const ids = await docker("ps", "-aq", "--filter", "label=com.ruche.job_id=hn-web");
  if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("host networks", () => {
  it("the node reports its host networks and its addresses labelled with them, in Nomad's shape", async () => {
    const a = agent!;
    const nodeId = a.out().match(/Node: +(\S+)/)?.[1] ?? "";
    const node = (await new ApiClient(a.address).request<Record<string, unknown>>("GET", `/v1/node/${nodeId}`)).body;
    expect(node.HostNetworks).toEqual({ lo: { Name: "lo", CIDR: "127.0.0.0/8", Interface: "", ReservedPorts: "" } });
    const res = node.NodeResources as { NodeNetworks: { Device: string; Addresses: { Alias: string; Address: string; Family: string }[] }[]; Networks: { IP: string }[] };
    const labelled = res.NodeNetworks.flatMap((n) => n.Addresses.map((x) => `${x.Alias}=${x.Address}`));
    expect(labelled).toContain("lo=127.0.0.1");
    expect(labelled).toContain(`default=${ownIp}`);
    expect(res.NodeNetworks.find((n) => n.Addresses.some((x) => x.Address === "127.0.0.1"))?.Device).toBe("lo");
    expect(res.Networks[0]?.IP).toBe(ownIp);
    const verbose = await ruche(a.address, dir, "node", "status", "-verbose", nodeId);
    expect(verbose.out).toMatch(/\nHost Networks\nName +CIDR +Interface +ReservedPorts\nlo +127\.0\.0\.0\/8 *\n/);
    expect((await ruche(a.address, dir, "node", "status", nodeId)).out).toMatch(/Host Networks += lo\n/);
  });

  it("a docker task's port on a host network is published on that network's address only, and its service and alloc status show it there", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "web.hcl")).code).toBe(0);
    const alloc = await until("hn-web to run", async () => {
      const [stub] = (await api.jobAllocations("hn-web")).body;
      if (stub?.ClientStatus === "failed") throw new Error(`hn-web failed: ${JSON.stringify(stub.TaskStates)}`);
      return stub?.ClientStatus === "running" ? (await api.allocation(stub.ID)).body : undefined;
    }, 60_000);
    const net = alloc.Resources.Networks[0]!;
    const local = net.DynamicPorts.find((p) => p.Label === "local")!;
    const pub = net.DynamicPorts.find((p) => p.Label === "public")!;
    expect(local.HostIP).toBe("127.0.0.1");
    expect(pub.HostIP).toBeUndefined();
    expect(net.IP).toBe(ownIp);
    // As Nomad's API has it, where `nomad alloc status` reads the addresses.
    const raw = (await api.request<{ AllocatedResources: { Shared: { Ports: { Label: string; Value: number; To: number; HostIP: string }[] } } }>("GET", `/v1/allocation/${alloc.ID}`)).body;
    expect(raw.AllocatedResources.Shared.Ports).toEqual([
      { Label: "local", Value: local.Value, To: 80, HostIP: "127.0.0.1" },
      { Label: "public", Value: pub.Value, To: 80, HostIP: ownIp },
    ]);

    const ids = (await docker("ps", "-q", "--filter", `label=com.ruche.alloc_id=${alloc.ID}`)).split("\n").filter((x) => x !== "");
    const bindings = JSON.parse(await docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", ids[0] ?? "")) as Record<string, { HostIp: string; HostPort: string }[]>;
    expect(bindings["80/tcp"]).toEqual(expect.arrayContaining([{ HostIp: "127.0.0.1", HostPort: String(local.Value) }, { HostIp: ownIp, HostPort: String(pub.Value) }]));
    expect(bindings["80/tcp"]).toHaveLength(2);
    await until("the task to answer on 127.0.0.1", async () => ((await accepts("127.0.0.1", local.Value)) ? true : undefined));
    expect(await accepts(ownIp, local.Value)).toBe(false);
    expect(await accepts(ownIp, pub.Value)).toBe(true);
    expect(await accepts("127.0.0.1", pub.Value)).toBe(false);

    const regs = await until("the service to be registered", async () => {
      const r = (await api.request<{ Address: string; Port: number }[]>("GET", "/v1/service/hn-web-local")).body;
      return r.length > 0 ? r : undefined;
    });
    expect(regs.map((r) => `${r.Address}:${r.Port}`)).toEqual([`127.0.0.1:${local.Value}`]);

    const status = await ruche(a.address, dir, "alloc", "status", alloc.ID.slice(0, 8));
    expect(status.out).toMatch(new RegExp(`\\*local +yes +127\\.0\\.0\\.1:${local.Value} -> 80`));
    expect(status.out).toMatch(new RegExp(`\\*public +yes +${ownIp.replace(/\./g, "\\.")}:${pub.Value} -> 80`));
    expect((await ruche(a.address, dir, "job", "stop", "-purge", "hn-web")).code).toBe(0);
  }, 120_000);

  it("a raw_exec task sees its port's host network address in its environment", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "env.hcl")).code).toBe(0);
    const done: Allocation = await until("hn-env to finish", async () => {
      const [stub] = (await api.jobAllocations("hn-env")).body;
      return stub !== undefined && (stub.ClientStatus === "complete" || stub.ClientStatus === "failed") ? (await api.allocation(stub.ID)).body : undefined;
    }, 60_000);
    expect(done.ClientStatus, JSON.stringify(done.TaskStates)).toBe("complete");
    const port = done.Resources.Networks[0]?.DynamicPorts[0]?.Value ?? 0;
    const logs = await ruche(a.address, dir, "alloc", "logs", done.ID.slice(0, 8), "show");
    expect(logs.out).toBe(`ip=127.0.0.1 host_ip=127.0.0.1 addr=127.0.0.1:${port} port=${port}\n`);
  }, 90_000);

  it("a port on a host network the node lacks is not placed, and job status says why", async () => {
    const a = agent!;
    expect((await ruche(a.address, dir, "job", "run", "-detach", "nowhere.hcl")).code).toBe(0);
    const status = await until("hn-nowhere's placement failure", async () => {
      const s = await ruche(a.address, dir, "job", "status", "hn-nowhere");
      return s.out.includes("missing host network") ? s : undefined;
    });
    expect(status.out).toContain('* Constraint `missing host network "IOT" for port "dns"` filtered 1 node');
  }, 60_000);
});
