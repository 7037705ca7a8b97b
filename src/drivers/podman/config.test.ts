/**
 * The podman driver without podman: its task config read as nomad-driver-podman's (keys,
 * defaults, refusals by name), the container it asks for, the agent config's plugin block,
 * the job validation of podman tasks, and a node without a podman service (undetected).
 */
import { describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../jobspec/agent-config.js";
import { formatDiagnostic } from "../../jobspec/diagnostic.js";
import { parseJob } from "../../jobspec/index.js";
import { createOptions } from "../docker/index.js";
import { testTask } from "../shared/testing.js";
import { readPodmanConfig } from "./config.js";
import { PodmanDriver, podmanOptions, podmanSocketPath } from "./podman-driver.js";

const open = { allowPrivileged: false, volumesEnabled: true };

function read(raw: Record<string, unknown>, opts = open) {
  const r = readPodmanConfig(raw, opts);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}

function problems(raw: Record<string, unknown>, opts = open): string {
  const r = readPodmanConfig(raw, opts);
  if (r.ok) throw new Error("expected the config to be refused");
  return r.problems.join("\n");
}

describe("podman task config", () => {
  it("reads the plugin's keys into the container: docker:// images, working_dir, a string entrypoint, no init by default", () => {
    const c = read({ image: "docker://redis:7", command: "redis-server", args: ["--port", "6379"], entrypoint: "/bin/sh", working_dir: "/data", ports: ["db"], labels: [{ team: "cache" }] });
    expect(c.docker.image).toBe("redis:7");
    expect(c.docker.entrypoint).toEqual(["/bin/sh"]);
    expect(c.docker.workDir).toBe("/data");
    expect(c.docker.init).toBe(false);
    expect(c.docker.labels).toEqual({ team: "cache" });
    expect(c.docker.ports).toEqual(["db"]);
  });

  it("takes podman's forms: devices as strings, shm_size and memory_reservation as sizes, tmpfs paths, sysctl and ulimit maps", () => {
    const c = read({
      image: "busybox",
      devices: ["/dev/fuse", "/dev/net/tun:/dev/tun:rw"],
      shm_size: "64m",
      memory_reservation: "128m",
      memory_swappiness: 10,
      tmpfs: ["/scratch", "/run:size=10m"],
      sysctl: [{ "net.core.somaxconn": "1024" }],
      ulimit: [{ nofile: "2048:4096" }],
      readonly_rootfs: true,
      tty: true,
    });
    expect(c.docker.devices).toEqual([
      { hostPath: "/dev/fuse", containerPath: "/dev/fuse", cgroupPermissions: "rwm" },
      { hostPath: "/dev/net/tun", containerPath: "/dev/tun", cgroupPermissions: "rw" },
    ]);
    expect(c.docker.shmSize).toBe(64 * 1024 * 1024);
    expect(c.memoryReservationBytes).toBe(128 * 1024 * 1024);
    expect(c.memorySwappiness).toBe(10);
    expect(c.tmpfs).toEqual({ "/scratch": "", "/run": "size=10m" });
    expect(c.docker.sysctl).toEqual({ "net.core.somaxconn": "1024" });
    expect(c.docker.ulimits).toEqual([{ name: "nofile", soft: 2048, hard: 4096 }]);
    const t = testTask({ image: "busybox" });
    try {
      const opts = podmanOptions(t.spec, c, createOptions(t.spec, c.docker, { coreMhz: 2000 }));
      expect(opts.HostConfig?.Tmpfs).toEqual({ "/scratch": "", "/run": "size=10m" });
      expect(opts.HostConfig?.MemoryReservation).toBe(128 * 1024 * 1024);
      expect(opts.HostConfig?.ReadonlyRootfs).toBe(true);
      expect(opts.HostConfig?.Init).toBe(false);
    } finally {
      t.cleanup();
    }
  });

  it('joins another task of the group with network_mode = "task:<name>"', () => {
    const c = read({ image: "busybox", network_mode: "task:web" });
    const t = testTask({ image: "busybox" });
    try {
      const opts = podmanOptions(t.spec, c, createOptions(t.spec, c.docker));
      expect(opts.HostConfig?.NetworkMode).toBe(`container:web-${t.spec.allocId}`);
    } finally {
      t.cleanup();
    }
  });

  it("refuses, one line each naming the key, what it does not have and what the node does not allow", () => {
    expect(problems({ image: "busybox", apparmor_profile: "x" })).toContain("config.apparmor_profile is not supported by Ruche's podman driver");
    expect(problems({ image: "busybox", static_ips: ["10.0.0.2"] })).toContain("config.static_ips");
    expect(problems({ image: "busybox", bogus: 1 })).toBe("config.bogus is not an option of the podman driver");
    expect(problems({ image: "busybox", logging: { driver: "journald" } })).toContain('config.logging.driver must be "nomad"');
    expect(problems({ image: "busybox", userns: "keep-id" })).toContain("config.userns");
    expect(problems({ image: "oci-archive:/tmp/img.tar" })).toContain("config.image");
    expect(problems({ image: "busybox", working_dir: "data" })).toContain("config.working_dir must be an absolute path");
    expect(problems({ image: "busybox", socket: "other" })).toContain("config.socket");
    expect(problems({ image: "busybox", auth: { username: "u", password: "p", tls_verify: false } })).toContain("config.auth.tls_verify");
    // Gated as the docker driver's are, and the refusal names the podman plugin's option.
    const priv = problems({ image: "busybox", privileged: true });
    expect(priv).toContain("config.privileged is not allowed on this node");
    expect(priv).toContain('plugin "podman" { config { allow_privileged = true } }');
    expect(problems({ image: "busybox", network_mode: "host" })).toContain('plugin "podman"');
    expect(problems({ image: "busybox", volumes: ["/srv:/srv"] }, { allowPrivileged: false, volumesEnabled: false })).toContain('plugin "podman" { config { volumes { enabled = true } } }');
    expect(read({ image: "busybox", network_mode: "host", logging: { driver: "nomad" } }, { allowPrivileged: true, volumesEnabled: true }).docker.networkMode).toBe("host");
  });
});

describe("podman driver without a podman service", () => {
  it("is undetected, saying which socket does not answer", async () => {
    const d = new PodmanDriver({ socketPath: "unix:///nonexistent/podman.sock", fingerprintTimeoutMs: 1000 });
    const fp = await d.fingerprint();
    expect(fp.detected).toBe(false);
    expect(fp.healthy).toBe(false);
    expect(fp.description).toContain("the podman service at unix:///nonexistent/podman.sock does not answer");
    await d.close();
  });

  it("takes socket_path with or without unix://", () => {
    expect(podmanSocketPath("unix:///run/user/1000/podman/podman.sock")).toBe("/run/user/1000/podman/podman.sock");
    expect(podmanSocketPath("/tmp/p.sock")).toBe("/tmp/p.sock");
  });
});

describe("podman in the agent config and in job files", () => {
  it('reads plugin "podman" { config { socket_path volumes allow_privileged gc recover_stopped } }', async () => {
    const r = await parseAgentConfig(
      `plugin "podman" {
  config {
    socket_path      = "unix:///run/podman/podman.sock"
    volumes { enabled = false }
    allow_privileged = true
    gc { container = true }
    recover_stopped  = false
  }
}
`,
      "agent.hcl",
    );
    if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
    expect(Object.fromEntries(r.config.flags)).toEqual({ "podman-socket": ["unix:///run/podman/podman.sock"], "podman-volumes": ["false"], "podman-allow-privileged": ["true"] });
    const refused = await parseAgentConfig('plugin "podman" {\n  config {\n    recover_stopped = true\n  }\n}\n', "agent.hcl");
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.diagnostics.map(formatDiagnostic).join("\n")).toContain("recover_stopped");
  });

  it("validates a podman task: its keys, port_map made each port's to, an unknown key refused by name", async () => {
    const job = (config: string): string => `job "j" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {}
    }
    task "t" {
      driver = "podman"
      config {
${config}
      }
    }
  }
}
`;
    const ok = await parseJob(job('        image = "docker://redis:7"\n        ports = ["http"]\n        port_map { http = 6379 }'), { file: "job.hcl" });
    if (!ok.ok) throw new Error(ok.diagnostics.map(formatDiagnostic).join("\n"));
    expect(ok.job.TaskGroups[0]?.Networks[0]?.DynamicPorts[0]?.To).toBe(6379);
    const bad = await parseJob(job('        image = "busybox"\n        static_mac = "02:00:00:00:00:01"\n        image_pul_timeout = "1m"'), { file: "job.hcl" });
    if (bad.ok) throw new Error("expected the job to be refused");
    const said = bad.diagnostics.map(formatDiagnostic).join("\n");
    expect(said).toContain('"static_mac" is not supported by Ruche\'s podman driver');
    expect(said).toContain('"image_pul_timeout" is not an option of the podman driver');
  });
});
