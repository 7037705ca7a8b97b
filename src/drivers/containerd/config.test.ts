import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testTask } from "../shared/testing.js";
import { parseContainerdConfig, parseDuration, parseRamBytes, validateContainerdConfig } from "./config.js";
import { exitOf } from "./driver.js";
import { normalizeRef } from "./image.js";
import { buildSpec, capName, hostsFileText, mergeEnv, processArgs, resolveUser, type OciSpec } from "./spec.js";

describe("containerd-driver task config", () => {
  it("takes the plugin's options and the corpus' mounts", () => {
    expect(
      validateContainerdConfig({
        image: "mirror.service.consul:5001/jellyfin/jellyfin:10.8.10",
        host_network: true,
        hostname: "jellyfin",
        cap_add: ["SYS_PTRACE"],
        mounts: [{ type: "bind", source: "/data/volumes/jellyfin/config", target: "/config", options: ["rbind", "rw"] }],
        sysctl: { "net.core.somaxconn": "16384" },
        shm_size: "128M",
        pids_limit: 100,
        auth: { username: "u", password: "p" },
      }),
    ).toEqual([]);
  });

  it("names each key that is wrong, and refuses what it does not know", () => {
    const problems = validateContainerdConfig({
      command: 42,
      args: "x",
      entrypoint: ["/bin/sh"],
      pid_mode: "private",
      image_pull_timeout: "soon",
      shm_size: "lots",
      mounts: [{ type: "bind", target: "/x", source: "/y" }, { type: "nfs", target: "rel" }],
      extra_hosts: ["nocolon"],
      seccomp_profile: "/p.json",
      memory_swap: "1g",
      ports: ["http"],
    }).join("\n");
    for (const needle of [
      "config.image is required",
      "config.command must be a string",
      "config.args must be a list of strings",
      "config.pid_mode",
      "config.image_pull_timeout",
      "config.shm_size",
      "config.mounts[0].options cannot be empty",
      "config.mounts[1].type",
      "config.mounts[1].target",
      "config.extra_hosts",
      "config.seccomp must be set to true",
      "config.memory_swap is not an option",
      "config.ports is not an option",
    ]) {
      expect(problems).toContain(needle);
    }
    expect(validateContainerdConfig({ image: "x", command: "a", entrypoint: ["b"] }).join()).toContain("both set");
    expect(validateContainerdConfig({ image: "x", seccomp: true }).join()).toContain("seccomp_profile");
  });

  it("reads durations and sizes as the plugin does", () => {
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("5")).toBeUndefined();
    expect(parseRamBytes("128M")).toBe(128 * 1024 * 1024);
    expect(parseRamBytes("1g")).toBe(1024 ** 3);
    expect(parseRamBytes("65536")).toBe(65536);
  });
});

describe("containerd-driver images and specs", () => {
  const dir = mkdtempSync(join(tmpdir(), "ruche-containerd-unit-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("names images as containerd does", () => {
    expect(normalizeRef("nginx")).toBe("docker.io/library/nginx:latest");
    expect(normalizeRef("alpine:3.18.0")).toBe("docker.io/library/alpine:3.18.0");
    expect(normalizeRef("docker.io/registry:2.8.2")).toBe("docker.io/library/registry:2.8.2");
    expect(normalizeRef("ruche-test/busybox:latest")).toBe("docker.io/ruche-test/busybox:latest");
    expect(normalizeRef("mirror.service.consul:5001/library/redis:alpine")).toBe("mirror.service.consul:5001/library/redis:alpine");
    expect(normalizeRef("localhost/app")).toBe("localhost/app:latest");
    expect(normalizeRef("redis:7@sha256:abc")).toBe("docker.io/library/redis@sha256:abc");
  });

  it("makes the process' arguments as the plugin: command after the image's entrypoint, entrypoint in place of both", () => {
    const image = { entrypoint: ["/entry"], cmd: ["serve"] };
    expect(processArgs({ command: "", entrypoint: undefined, args: [] }, image)).toEqual(["/entry", "serve"]);
    expect(processArgs({ command: "web", entrypoint: undefined, args: ["-v"] }, image)).toEqual(["/entry", "web", "-v"]);
    expect(processArgs({ command: "", entrypoint: undefined, args: ["-v"] }, image)).toEqual(["/entry", "-v"]);
    expect(processArgs({ command: "", entrypoint: ["/bin/sh", "-c"], args: ["echo"] }, image)).toEqual(["/bin/sh", "-c", "echo"]);
  });

  it("lays env, caps and users as containerd's spec options do", () => {
    expect(mergeEnv(["PATH=/bin", "A=1"], ["A=2", "B=3"])).toEqual(["PATH=/bin", "A=2", "B=3"]);
    expect(capName("sys_ptrace")).toBe("CAP_SYS_PTRACE");
    const root = join(dir, "root");
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\nstaff:x:50:\n");
    expect(resolveUser(root, "app")).toEqual({ uid: 1000, gid: 1001 });
    expect(resolveUser(root, "app:staff")).toEqual({ uid: 1000, gid: 50 });
    expect(resolveUser(root, "42:7")).toEqual({ uid: 42, gid: 7 });
    expect(() => resolveUser(root, "nobody-here")).toThrow(/not in the image/);
  });

  it("builds the container's spec from the task", () => {
    const base: OciSpec = {
      process: { cwd: "/", user: { uid: 0, gid: 0 }, capabilities: { bounding: ["CAP_CHOWN", "CAP_NET_RAW"], effective: ["CAP_CHOWN", "CAP_NET_RAW"], permitted: ["CAP_CHOWN", "CAP_NET_RAW"] } },
      root: { path: "rootfs" },
      mounts: [{ destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "size=65536k"] }],
      linux: { namespaces: [{ type: "pid" }, { type: "uts" }, { type: "network" }] },
    };
    const t = testTask({});
    try {
      const config = parseContainerdConfig({
        image: "x",
        command: "/bin/app",
        host_network: true,
        pid_mode: "host",
        hostname: "jellyfin",
        cap_add: ["SYS_PTRACE"],
        cap_drop: ["NET_RAW"],
        shm_size: "128M",
        pids_limit: 50,
        sysctl: { "net.core.somaxconn": "16384" },
        readonly_rootfs: true,
        mounts: [{ type: "bind", source: "local/conf", target: "/conf", options: ["rbind", "ro"] }],
      });
      const image = { env: ["PATH=/usr/bin", "LANG=C"], entrypoint: [], cmd: ["/bin/sh"], workingDir: "/srv", user: "" };
      const s = buildSpec({ base, image, config, task: { ...t.spec, env: { PATH: "/evil", NOMAD_TASK_DIR: "/local", GREETING: "hi" } }, containerId: "web-1", namespace: "nomad", rootfs: join(dir, "root"), hostsFile: join(dir, "hosts") });
      expect(s.process.args).toEqual(["/bin/app"]);
      expect(s.process.env).toEqual(expect.arrayContaining(["PATH=/usr/bin", "LANG=C", "GREETING=hi"]));
      expect(s.process.env).not.toContain("PATH=/evil");
      expect(s.process.cwd).toBe("/srv");
      expect(s.hostname).toBe("jellyfin");
      expect(s.root).toEqual({ path: join(dir, "root"), readonly: true });
      expect(s.linux.namespaces).toEqual([{ type: "uts" }]);
      expect(s.linux.cgroupsPath).toBe("/nomad/web-1");
      expect(s.linux.resources?.memory?.limit).toBe(64 * 1024 * 1024);
      expect(s.linux.resources?.cpu?.shares).toBe(100);
      expect(s.linux.resources?.pids?.limit).toBe(50);
      expect(s.linux.sysctl).toEqual({ "net.core.somaxconn": "16384" });
      expect(s.process.capabilities?.bounding).toEqual(["CAP_CHOWN", "CAP_SYS_PTRACE"]);
      expect(s.mounts.find((m) => m.destination === "/dev/shm")?.options).toContain("size=131072k");
      expect(s.mounts).toContainEqual({ type: "bind", source: join(t.spec.taskDir, "local", "/conf"), destination: "/conf", options: ["rbind", "ro"] });
      expect(s.mounts).toContainEqual({ type: "bind", source: "/etc/hosts", destination: "/etc/hosts", options: ["rbind", "ro"] });
      expect(s.mounts).toContainEqual({ type: "bind", source: join(t.spec.allocDir, "alloc"), destination: "/alloc", options: ["rbind", "rw"] });
    } finally {
      t.cleanup();
    }
  });

  it("writes /etc/hosts with the extra hosts, and reads an exit status as Nomad reports it", () => {
    expect(hostsFileText(false, ["db:10.0.0.5", "v6:fe80::1"])).toContain("10.0.0.5\tdb\nfe80::1\tv6\n");
    expect(hostsFileText(false, [])).toMatch(/^127\.0\.0\.1\tlocalhost\n/);
    expect(exitOf(137, false)).toEqual({ exitCode: 137, signal: 9, oomKilled: false });
    expect(exitOf(3, false)).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
  });
});
