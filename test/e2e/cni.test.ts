/**
 * Groups in a CNI network (`network { mode = "cni/<name>" }`) on a dev agent, the real engine
 * and Debian's containernetworking-plugins (/usr/lib/cni), as Nomad runs them: the agent's
 * -cni-config-dir holds a conflist of `bridge` (a bridge of this test's own), `host-local` (a
 * private /24) and `portmap`; the node offers `cni/<name>`, and a job there runs its docker
 * task in the pause container's namespace (network "none"), wired by the plugins: the
 * allocation's address is in the subnet (its NetworkStatus, `alloc status`, the service with
 * address_mode "alloc"), the task answers on it and on the host port portmap publishes, an exec
 * task of the group reaches it on localhost; a group of exec tasks alone gets a namespace of
 * its own. Stopped, no veth and no portmap rule is left. A job asking for a network no node
 * has is not placed, and says why ("missing network").
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const IMAGE = "ruche-test/busybox:latest";
const PLUGINS = "/usr/lib/cni";
const id = randomBytes(3).toString("hex");
const BRIDGE = `rcni${id}`;
const NETWORK = `rtest${id}`;
const [x = 0, y = 0] = randomBytes(2);
const PREFIX = `10.${(x % 200) + 40}.${y}`;
let dir = "";
let agent: AgentProcess | undefined;

const dockerJob = `job "cniweb" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "cni/${NETWORK}"
      port "http" {
        to = 8080
      }
      cni {
        args = {
          TEAM = "\${NOMAD_JOB_NAME}"
        }
      }
    }
    service {
      name         = "cniweb"
      port         = "http"
      provider     = "nomad"
      address_mode = "alloc"
      check {
        name         = "inside"
        type         = "http"
        path         = "/"
        interval     = "1s"
        timeout      = "1s"
        address_mode = "alloc"
      }
    }
    task "server" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "httpd"
        args    = ["-f", "-p", "8080", "-h", "/www"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "probe" {
      driver = "exec"
      config {
        command = "/bin/busybox"
        args    = ["sh", "-c", "until busybox wget -q -O - http://localhost:8080/; do sleep 0.5; done; exec busybox sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const execJob = `job "cniexec" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "cni/${NETWORK}"
    }
    task "server" {
      driver = "exec"
      config {
        command = "/bin/busybox"
        args    = ["sh", "-c", "mkdir -p /tmp/www && echo exec-in-cni > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const absentJob = `job "cniabsent" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "cni/not-on-any-node"
    }
    task "t" {
      driver = "docker"
      config {
        image = "${IMAGE}"
      }
    }
  }
}
`;

function brif(): string[] {
  return existsSync(`/sys/class/net/${BRIDGE}/brif`) ? readdirSync(`/sys/class/net/${BRIDGE}/brif`) : [];
}

function natRules(): string {
  return execFileSync("iptables-save", ["-t", "nat"], { encoding: "utf8" });
}

async function page(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  return res?.ok === true ? (await res.text()).trim() : undefined;
}

async function running(api: ApiClient, job: string, tasks: string[]): Promise<Allocation> {
  return until(
    `the tasks of ${job} to run`,
    async () => {
      const [stub] = (await api.jobAllocations(job)).body;
      if (stub === undefined) return undefined;
      const a = (await api.allocation(stub.ID)).body;
      if (a.ClientStatus === "failed") throw new Error(`${job} failed: ${JSON.stringify(a.TaskStates)}`);
      return tasks.every((t) => a.TaskStates[t]?.State === "running") && a.NetworkStatus !== undefined ? a : undefined;
    },
    45_000,
  );
}

beforeAll(async () => {
  for (const p of ["bridge", "host-local", "portmap"]) {
    if (!existsSync(join(PLUGINS, p))) throw new Error(`the CNI plugin ${PLUGINS}/${p} is missing: install Debian's containernetworking-plugins (sh scripts/test-deps.sh)`);
  }
  dir = mkdtempSync(join(tmpdir(), "ruche-cni-e2e-"));
  const conf = join(dir, "cni");
  mkdirSync(conf);
  const conflist = {
    cniVersion: "1.0.0",
    name: NETWORK,
    plugins: [
      { type: "bridge", bridge: BRIDGE, isGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: `${PREFIX}.0/24` }]], dataDir: join(dir, "leases"), routes: [{ dst: "0.0.0.0/0" }] } },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  };
  writeFileSync(join(conf, "10-test.conflist"), JSON.stringify(conflist));
  writeFileSync(join(conf, "20-broken.conf"), "{");
  for (const [name, text] of [["cniweb.hcl", dockerJob], ["cniexec.hcl", execJob], ["cniabsent.hcl", absentJob]] as const) writeFileSync(join(dir, name), text);
  // prettier-ignore
  agent = await startAgentProcess(["-dev", "-data-dir", join(dir, "data"), "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1",
    "-docker-infra-image", IMAGE, "-cni-path", `/nonexistent:${PLUGINS}`, "-cni-config-dir", conf]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  for (const job of ["cniweb", "cniexec", "cniabsent"]) {
    const ids = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`).catch(() => "");
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  }
  if (existsSync(`/sys/class/net/${BRIDGE}`)) execFileSync("ip", ["link", "delete", BRIDGE]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a group in a CNI network", () => {
  it("runs in the namespace the plugins wired: its address, its published port, its service; nothing left once stopped", async () => {
    const a = agent;
    if (a === undefined) throw new Error("no agent");
    const api = new ApiClient(a.address);
    const node = await until("the node to offer the CNI network", async () => {
      const [stub] = (await api.nodes()).body;
      if (stub === undefined) return undefined;
      const n = (await api.node(stub.ID)).body;
      return (n.Resources.Networks ?? []).length > 0 ? n : undefined;
    });
    // The broken file is skipped; the good one is offered.
    expect(node.Resources.Networks).toEqual([{ Mode: `cni/${NETWORK}` }]);

    expect((await ruche(a.address, dir, "job", "run", "-detach", "cniweb.hcl")).code).toBe(0);
    const alloc = await running(api, "cniweb", ["server", "probe"]);
    const address = alloc.NetworkStatus?.Address ?? "";
    expect(alloc.NetworkStatus?.InterfaceName).toBe("eth0");
    expect(address.startsWith(`${PREFIX}.`)).toBe(true);
    // The pause container holds an empty namespace ("none") the plugins wired; the task joins it.
    const pause = `nomad_init_${alloc.ID}`;
    expect(await docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", pause)).toBe("none");
    expect(await until("the task on the allocation's address", () => page(`http://${address}:8080/`))).toBe("ruche-test-busybox");
    const hostPort = alloc.Resources.Networks[0]?.DynamicPorts[0]?.Value ?? 0;
    expect(await until(`the task on the host port ${hostPort} portmap publishes`, () => page(`http://127.0.0.1:${hostPort}/`))).toBe("ruche-test-busybox");
    // The exec task joined the same namespace: it reached the server on localhost.
    await until("the exec task to reach the server on localhost", async () => ((await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "probe")).out.includes("ruche-test-busybox") ? true : undefined));
    // The service advertises the allocation's own address and the port inside it.
    const svc = await until("the service with the allocation's address", async () => {
      const [s] = (await (await fetch(`http://${a.address}/v1/service/cniweb`)).json()) as { Address: string; Port: number }[];
      return s;
    });
    expect(svc).toMatchObject({ Address: address, Port: 8080 });
    // Its check (address_mode "alloc") probes the allocation's address and the port inside.
    const check = await until("the check on the allocation's address to pass", async () => Object.values((await api.allocChecks(alloc.ID)).body).find((c) => c.Status === "success"));
    expect(check.Output).toContain(`http://${address}:8080/`);
    const status = await ruche(a.address, dir, "alloc", "status", alloc.ID.slice(0, 8));
    expect(status.out).toContain(`Allocation Network (mode = "cni/${NETWORK}"):`);
    expect(status.out).toMatch(new RegExp(`eth0 +${address.replace(/\./g, "\\.")}`));
    expect(brif()).toHaveLength(1);
    expect(natRules()).toContain(alloc.ID);

    expect((await ruche(a.address, dir, "job", "stop", "cniweb")).code).toBe(0);
    await until("the pause container to go", async () => ((await docker("inspect", pause).then(() => "there", () => "gone")) === "gone" ? true : undefined), 30_000);
    expect(brif()).toEqual([]);
    expect(natRules()).not.toContain(alloc.ID);
  }, 120_000);

  it("gives a group of exec tasks alone a namespace of its own, wired the same way", async () => {
    const a = agent;
    if (a === undefined) throw new Error("no agent");
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "cniexec.hcl")).code).toBe(0);
    const alloc = await running(api, "cniexec", ["server"]);
    const address = alloc.NetworkStatus?.Address ?? "";
    expect(address.startsWith(`${PREFIX}.`)).toBe(true);
    expect(await until("the exec task on the allocation's address", () => page(`http://${address}:8080/`))).toBe("exec-in-cni");
    expect(existsSync(`/var/run/netns/ruche-${alloc.ID}`)).toBe(true);
    expect((await ruche(a.address, dir, "job", "stop", "cniexec")).code).toBe(0);
    await until("the namespace to go", () => (existsSync(`/var/run/netns/ruche-${alloc.ID}`) ? undefined : true), 30_000);
    expect(brif()).toEqual([]);
    expect(natRules()).not.toContain(alloc.ID);
  }, 90_000);

  it("is not placed on a node without the network, and says why", async () => {
    const a = agent;
    if (a === undefined) throw new Error("no agent");
    expect((await ruche(a.address, dir, "job", "run", "-detach", "cniabsent.hcl")).code).toBe(0);
    const out = await until("the placement failure", async () => {
      const r = await ruche(a.address, dir, "job", "status", "cniabsent");
      return r.out.includes("missing network") ? r.out : undefined;
    });
    expect(out).toMatch(/1 nodes? missing network/);
  }, 60_000);
});
