/**
 * The containerd driver's own options on a real containerd (root; the tests' namespace and
 * image, as the contract test's): what the plugin's task config sets is what the task sees,
 * and a task over its memory limit is reported OOM-killed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { TaskHandle } from "../driver.js";
import { readText, testTask, type TestTask } from "../shared/testing.js";
import { ContainerdDriver } from "./driver.js";
import { importTestImage, testContainerdAddress, TEST_IMAGE, TEST_NAMESPACE } from "./testing.js";

const started: { handle: TaskHandle; task: TestTask }[] = [];
let driver: ContainerdDriver;

async function run(config: Record<string, unknown>, memoryMB = 64, prepare?: (t: TestTask) => void): Promise<{ handle: TaskHandle; task: TestTask }> {
  importTestImage();
  driver = new ContainerdDriver({ address: testContainerdAddress(), namespace: TEST_NAMESPACE, allowPrivileged: true });
  const task = testTask({ image: TEST_IMAGE, ...config }, { memoryMB });
  prepare?.(task);
  const handle = await driver.start(task.spec);
  started.push({ handle, task });
  return { handle, task };
}

afterEach(async () => {
  for (const { handle, task } of started.splice(0)) {
    await driver.stop(handle, 1000);
    await driver.destroy(handle);
    task.cleanup();
  }
});

describe("containerd-driver options", () => {
  it("hostname, extra_hosts, shm_size, sysctl, readonly_rootfs, cwd, cap_drop and a bind mount reach the task", async () => {
    const { handle, task } = await run({
      command: "/bin/sh",
      args: [
        "-c",
        [
          "hostname",
          "grep db.internal /etc/hosts",
          "df -k /dev/shm | tail -1 | awk '{print \"shm \" $2}'",
          "cat /proc/sys/net/ipv4/ip_forward",
          "touch /rootfile 2>/dev/null && echo root-writable || echo root-read-only",
          "pwd",
          "cat /conf/app.conf",
          "chown 1 /local 2>/dev/null && echo chown-ok || echo chown-denied",
        ].join("; "),
      ],
      hostname: "box",
      extra_hosts: ["db.internal:10.9.8.7"],
      shm_size: "8M",
      sysctl: { "net.ipv4.ip_forward": "1" },
      readonly_rootfs: true,
      cwd: "/local",
      cap_drop: ["CHOWN"],
      mounts: [{ type: "bind", source: "local/conf", target: "/conf", options: ["rbind", "ro"] }],
    }, 64, (t) => {
      mkdirSync(join(t.spec.taskDir, "local/conf"), { recursive: true });
      writeFileSync(join(t.spec.taskDir, "local/conf/app.conf"), "conf from the task dir\n");
    });
    expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    expect(readText(task.spec.stdoutPath)).toBe("box\n10.9.8.7\tdb.internal\nshm 8192\n1\nroot-read-only\n/local\nconf from the task dir\nchown-denied\n");
  }, 60_000);

  it("host_network runs the task in the host's network namespace; a group's network (bridge, CNI) is joined by its path", async () => {
    const ns = `ruche-cd-${process.pid}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      const own = readlinkSync("/proc/self/ns/net");
      const group = `net:[${statSync(`/var/run/netns/${ns}`).ino}]`;
      const host = await run({ command: "/bin/readlink", args: ["/proc/self/ns/net"], host_network: true });
      expect(await driver.wait(host.handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
      expect(readText(host.task.spec.stdoutPath)).toBe(`${own}\n`);
      importTestImage();
      // Without -containerd-allow-privileged the host's network is refused, as docker's is.
      const guarded = new ContainerdDriver({ address: testContainerdAddress(), namespace: TEST_NAMESPACE });
      const onHost = testTask({ image: TEST_IMAGE, command: "/bin/true", host_network: true });
      await expect(guarded.start(onHost.spec)).rejects.toThrow(/allow_privileged/);
      onHost.cleanup();
      driver = new ContainerdDriver({ address: testContainerdAddress(), namespace: TEST_NAMESPACE, allowPrivileged: true });
      const task = testTask({ image: TEST_IMAGE, command: "/bin/readlink", args: ["/proc/self/ns/net"] }, { network: { containerId: "", netnsPath: `/var/run/netns/${ns}` } });
      const handle = await driver.start(task.spec);
      started.push({ handle, task });
      expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
      expect(readText(task.spec.stdoutPath)).toBe(`${group}\n`);
      // Both at once are refused, as the plugin refuses them.
      const both = testTask({ image: TEST_IMAGE, command: "/bin/true", host_network: true }, { network: { containerId: "", netnsPath: `/var/run/netns/${ns}` } });
      await expect(driver.start(both.spec)).rejects.toThrow(/mutually exclusive/);
      both.cleanup();
    } finally {
      execFileSync("ip", ["netns", "delete", ns]);
    }
  }, 60_000);

  it("a task over its memory limit is reported killed by the OOM killer", async () => {
    const { handle } = await run({ command: "/bin/sh", args: ["-c", 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'] }, 16);
    expect(await driver.wait(handle)).toEqual({ exitCode: 137, signal: 9, oomKilled: true });
  }, 60_000);
});
