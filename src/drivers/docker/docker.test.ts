/**
 * The docker driver against the real engine: scripts/test-deps.sh starts one on
 * /var/run/docker.sock (or DOCKER_HOST) and builds the test image without a registry. When
 * no engine answers, every test here fails and says so; nothing is skipped.
 *
 * Each test runs under its own job id. Afterwards every container labelled with it is
 * removed, and the test fails if one is still there.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, truncateSync, writeFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, sleep } from "../../structs/index.js";
import type { TaskHandle, TaskSpec } from "../driver.js";
import { TEST_IMAGE } from "./contract.case.js";
import { DockerDriver, findContainersByLabels, Label, NomadLabel } from "./index.js";
import { startTestRegistry } from "./registry-testing.js";
import { dockerTestBed } from "./testing.js";

const bed = dockerTestBed("ruche-docker-test");
const docker = bed.docker;
const driver = (): DockerDriver => bed.driver();

/** A task of this test's job, with fresh directories laid out as the client lays them out, and two variables in its env. */
function taskSpec(taskName: string, config: Record<string, unknown>, over: Partial<TaskSpec> = {}): TaskSpec {
  return bed.spec(taskName, config, { env: { RUCHE_TASK_NAME: taskName, GREETING: "hello from the env" }, ...over });
}

function sh(script: string): Record<string, unknown> {
  return { command: "sh", args: ["-c", script] };
}

function read(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** Whether this process holds the file at `path` open: the log follower writes through file handles it keeps. */
function holdsOpen(path: string): boolean {
  const target = realpathSync(path);
  return readdirSync("/proc/self/fd").some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === target;
    } catch {
      return false; // Closed meanwhile.
    }
  });
}

/** The highest N of the lines "out N" in `text`, or -1. */
function lastOut(text: string): number {
  return Math.max(-1, ...[...text.matchAll(/out (\d+)\n/g)].map((m) => Number(m[1])));
}

function containerOf(h: TaskHandle): ReturnType<typeof docker.getContainer> {
  return docker.getContainer(String(h.state.containerId));
}

/** Polls `f` until it gives something truthy; fails naming `what` after `timeoutMs`. */
async function eventually<T>(what: string, f: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

describe("fingerprint", () => {
  it("reports the engine's version and OS", async () => {
    const version = await docker.version();
    const fp = await driver().fingerprint();
    expect(fp).toMatchObject({ detected: true, healthy: true });
    expect(fp.attributes["driver.docker.version"]).toBe(version.Version);
    expect(fp.attributes["driver.docker.os_type"]).toBe("linux");
  });

  it("reports an engine that does not answer, naming the socket, without throwing", async () => {
    const socketPath = join(tmpdir(), `ruche-no-docker-${randomBytes(4).toString("hex")}.sock`);
    const fp = await new DockerDriver({ endpoint: { kind: "unix", socketPath } }).fingerprint();
    expect(fp).toMatchObject({ detected: false, healthy: false, attributes: {} });
    expect(fp.description).toContain(`unix://${socketPath}`);
  });
});

describe("start", () => {
  it("publishes a port: the task's port 80 answers on the allocation's host port", async () => {
    const port = await freePort();
    const spec = taskSpec("web", { command: "busybox", args: ["httpd", "-f", "-p", "80", "-h", "/www"], ports: ["http"] }, {
      ports: [{ label: "http", value: port, to: 80, ip: "127.0.0.1" }],
    });
    await driver().start(spec);
    const body = await eventually("httpd to answer", async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
        return res.ok ? await res.text() : undefined;
      } catch {
        return undefined;
      }
    });
    expect(body.trim()).toBe("ruche-test-busybox");
  });

  it("names, labels and limits the container as the spec says", async () => {
    const spec = taskSpec("limits", { command: "sleep", args: ["3600"], labels: { team: "web", [Label.JobId]: "not-this-job" } }, { cpu: 250, memoryMB: 48 });
    const h = await driver().start(spec);
    const info = await containerOf(h).inspect();
    expect(info.Name).toBe(`/limits-${spec.allocId}`);
    expect(info.State.Running).toBe(true);
    expect(info.HostConfig).toMatchObject({ Memory: 48 * 1024 * 1024, MemorySwap: 48 * 1024 * 1024, CpuShares: 250, Init: true, Privileged: false });
    expect(info.Config.Labels).toMatchObject({
      team: "web",
      [Label.AllocId]: spec.allocId,
      [Label.TaskName]: "limits",
      [Label.JobId]: bed.jobId(),
      [Label.TaskId]: spec.id,
      [NomadLabel.AllocId]: spec.allocId,
      [NomadLabel.JobId]: bed.jobId(),
      [NomadLabel.TaskName]: "limits",
      [NomadLabel.TaskGroupName]: spec.group,
      [NomadLabel.NodeId]: spec.nodeId,
    });
    expect(info.Config.Env).toContain("GREETING=hello from the env");
    expect(h).toMatchObject({ driver: "docker", taskId: spec.id, state: { containerId: info.Id, image: TEST_IMAGE, lastLogTime: "" } });
  });

  it("reports an OOM kill when the task outgrows its memory", async () => {
    const spec = taskSpec("hog", sh('x=aaaaaaaaaaaaaaaa; while true; do x="$x$x"; done'), { memoryMB: 16 });
    const d = driver();
    const h = await d.start(spec);
    expect(await d.wait(h)).toEqual({ exitCode: 137, signal: 9, oomKilled: true });
  });

  it("binds the alloc dir at /alloc, local/ at /local, secrets/ at /secrets, and the task's volumes", async () => {
    const spec0 = taskSpec("files", {});
    const conf = join(spec0.allocDir, "conf");
    mkdirSync(conf);
    writeFileSync(join(spec0.taskDir, "local", "in.txt"), "from the host\n");
    const spec: TaskSpec = {
      ...spec0,
      config: {
        image: TEST_IMAGE,
        volumes: ["data:/data", `${conf}:/conf:ro`],
        ...sh("echo shared > /alloc/shared.txt && echo mine > /local/mine.txt && cat /local/in.txt && ls -d /secrets && echo kept > /data/kept.txt && (echo x > /conf/x 2>/dev/null && echo wrote-ro || echo ro-refused)"),
      },
    };
    // An absolute host path: the node must allow host volumes (-docker-volumes).
    const d = bed.driver({ volumesEnabled: true });
    expect(await d.wait(await d.start(spec))).toMatchObject({ exitCode: 0 });
    expect(read(join(spec.allocDir, "alloc", "shared.txt"))).toBe("shared\n");
    expect(read(join(spec.taskDir, "local", "mine.txt"))).toBe("mine\n");
    // A relative volume's host path is inside the task dir.
    expect(read(join(spec.taskDir, "data", "kept.txt"))).toBe("kept\n");
    expect(read(spec.stdoutPath)).toBe("from the host\n/secrets\nro-refused\n");
  });

  it("mounts Nomad's mount blocks: a bind from the task's directory (read-only), a tmpfs, an anonymous volume; pid_mode host where privileged containers may run", async () => {
    const spec0 = taskSpec("mounts", {});
    writeFileSync(join(spec0.taskDir, "local", "conf.txt"), "bound\n");
    const spec: TaskSpec = {
      ...spec0,
      config: {
        image: TEST_IMAGE,
        mount: [
          { type: "bind", source: "local/conf.txt", target: "/etc/app.conf", readonly: true },
          { type: "tmpfs", target: "/scratch", tmpfs_options: { size: 1048576 } },
          { target: "/cache" },
        ],
        pid_mode: "host",
        ...sh("cat /etc/app.conf; (echo x > /etc/app.conf) 2>/dev/null && echo wrote || echo ro; grep -E ' /scratch | /cache ' /proc/mounts | cut -d' ' -f2,3 | sort; [ -d /proc/1 ] && cat /proc/1/comm"),
      },
    };
    const d = bed.driver({ allowPrivileged: true });
    expect(await d.wait(await d.start(spec))).toMatchObject({ exitCode: 0 });
    const out = read(spec.stdoutPath).split("\n");
    expect(out.slice(0, 2)).toEqual(["bound", "ro"]);
    expect(out[2]).toMatch(/^\/cache \S+$/);
    expect(out[3]).toBe("/scratch tmpfs");
    // pid_mode host: PID 1 is the host's init, not the container's tini.
    expect(out[4]).not.toBe("tini");
  });

  it("gives the container the DNS, hosts and capabilities its config names (dns_servers, dns_search_domains, extra_hosts, cap_drop)", async () => {
    const d = driver();
    const script = "cat /etc/resolv.conf; grep db.local /etc/hosts; touch /tmp/f && (chown 4242 /tmp/f 2>/dev/null && echo chown-done || echo chown-refused)";
    const base = taskSpec("caps", { image: TEST_IMAGE, ...sh(script) });
    const withConfig = { ...base, config: { ...base.config, dns_servers: ["10.9.8.7"], dns_search_domains: ["corp.example"], extra_hosts: ["db.local:10.1.2.3"], cap_drop: ["CHOWN"] } };
    expect(await d.wait(await d.start(withConfig))).toMatchObject({ exitCode: 0 });
    const out = read(withConfig.stdoutPath);
    expect(out).toContain("nameserver 10.9.8.7");
    expect(out).toContain("search corp.example");
    expect(out).toMatch(/^10\.1\.2\.3\s+db\.local$/m);
    expect(out).toContain("chown-refused");
    // Without cap_drop the same task may chown: the refusal above is the option's doing.
    const plain = taskSpec("caps-plain", { image: TEST_IMAGE, ...sh("touch /tmp/f && (chown 4242 /tmp/f 2>/dev/null && echo chown-done || echo chown-refused)") });
    expect(await d.wait(await d.start(plain))).toMatchObject({ exitCode: 0 });
    expect(read(plain.stdoutPath)).toBe("chown-done\n");
  });

  it("pulls from a private registry with the task's auth block; without it, or with a wrong password, the task fails saying the registry refused", async () => {
    const name = `ruche-test/private-${randomBytes(3).toString("hex")}`;
    const registry = await startTestRegistry(TEST_IMAGE, name, "1", "deployer", "s3cret");
    const image = `${registry.address}/${name}:1`;
    try {
      const d = driver();
      const bare = taskSpec("noauth", { image, ...sh("echo pulled") });
      await expect(d.start(bare)).rejects.toThrow(/could not be pulled: .*(unauthorized|authentication required|no basic auth credentials)/i);
      const wrong = taskSpec("badauth", { image, auth: [{ username: "deployer", password: "nope" }], ...sh("echo pulled") });
      await expect(d.start(wrong)).rejects.toThrow(/could not be pulled/);
      const refusedBefore = registry.pulls.refused;
      expect(refusedBefore).toBeGreaterThan(0);
      const good = taskSpec("auth", { image, auth: [{ username: "deployer", password: "s3cret", server_address: registry.address }], auth_soft_fail: true, ...sh("echo pulled") });
      expect(await d.wait(await d.start(good))).toMatchObject({ exitCode: 0 });
      expect(read(good.stdoutPath)).toBe("pulled\n");
      expect(registry.pulls.authorized).toBeGreaterThan(0);
    } finally {
      await registry.close();
      await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    }
  });

  it("fails clearly when the image is not here and cannot be pulled", async () => {
    const spec = taskSpec("nope", { image: `ruche-test/not-here-${randomBytes(4).toString("hex")}:1` });
    const err = await driver().start(spec).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.DockerImageUnavailable });
    expect(String(err)).toContain(`image ${String(spec.config.image)} is not on this node and could not be pulled: `);
  });

  it("fails clearly when the container cannot start, leaving no container", async () => {
    // Something else holds the host port the allocation was given.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const addr = holder.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    try {
      const spec = taskSpec("clash", { command: "sleep", args: ["3600"], ports: ["http"] }, { ports: [{ label: "http", value: port, to: 80, ip: "127.0.0.1" }] });
      await expect(driver().start(spec)).rejects.toThrow(new RegExp(`starting container clash-${spec.allocId} failed: .*${port}.*(address already in use|port is already allocated)`));
      expect(await findContainersByLabels(docker, { [Label.TaskId]: spec.id })).toEqual([]);
    } finally {
      holder.close();
    }
  });

  it("runs a command that does not exist as a task that exits 127, saying why on stderr", async () => {
    // tini is PID 1 and execs the command, so the container starts and the exec fails inside it.
    const spec = taskSpec("typo", { command: "/bin/no-such-program" });
    const d = driver();
    expect(await d.wait(await d.start(spec))).toEqual({ exitCode: 127, signal: 0, oomKilled: false });
    expect(read(spec.stderrPath)).toContain("/bin/no-such-program");
  });

  it("replaces an earlier container of the same task, and leaves a stranger's alone", async () => {
    const d = driver();
    const spec = taskSpec("again", sh("exit 0"));
    const first = await d.start(spec);
    await d.wait(first);
    const second = await d.start(spec);
    expect(second.state.containerId).not.toBe(first.state.containerId);
    expect((await findContainersByLabels(docker, { [Label.TaskId]: spec.id })).map((c) => c.id)).toEqual([second.state.containerId]);

    const other = taskSpec("taken", {});
    await docker.createContainer({ name: `taken-${other.allocId}`, Image: TEST_IMAGE, Labels: { [Label.JobId]: bed.jobId() } });
    await expect(d.start(other)).rejects.toMatchObject({ code: ErrorCode.DockerNameTaken });
  });

  it("refuses a config that does not validate", async () => {
    const d = driver();
    expect(d.validate({ image: 3, args: "x" })).toEqual(['config.image must be a non-empty string (the image to run, as in "redis:7")', "config.args must be a list of strings"]);
    await expect(d.start(taskSpec("bad", { args: "x" }))).rejects.toThrow("config.args must be a list of strings");
  });
});

describe("logs", () => {
  it("copies output into the task's files and, after an agent restart, goes on without losing or repeating a line", async () => {
    const lines = 60;
    const spec = taskSpec("chatty", sh(`i=0; while [ $i -lt ${lines} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.05; done`));
    const a = driver();
    const handle = await a.start(spec);
    await eventually("the first lines", () => read(spec.stdoutPath).includes("out 5\n"));
    // The agent stops: the container runs on, and the client has saved the handle.
    await a.close();
    const saved = JSON.parse(JSON.stringify(handle)) as TaskHandle;
    expect(saved.state.lastLogTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    const before = read(spec.stdoutPath);
    // Nothing writes the files any more, while the container prints on into the engine's log.
    expect(holdsOpen(spec.stdoutPath) || holdsOpen(spec.stderrPath), "the task's files held open by the stopped agent").toBe(false);
    await eventually("three more lines in the engine's log", async () => lastOut((await containerOf(saved).logs({ stdout: true })).toString("latin1")) >= lastOut(before) + 3);
    expect(read(spec.stdoutPath)).toBe(before);
    expect((await containerOf(saved).inspect()).State.Running).toBe(true);

    const b = driver();
    expect(await b.recover(saved, spec)).toBe(true);
    expect(await b.wait(saved)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    const want = (prefix: string): string => Array.from({ length: lines }, (_, i) => `${prefix} ${i}\n`).join("");
    expect(read(spec.stdoutPath)).toBe(want("out"));
    expect(read(spec.stderrPath)).toBe(want("err"));
    expect(String(saved.state.lastLogTime) > String(handle.state.lastLogTime)).toBe(true);
  });

  it("writes at the start of a file the client truncated (copy-truncate rotation)", async () => {
    const spec = taskSpec("rotated", sh("echo before; sleep 1; echo after"));
    const d = driver();
    const h = await d.start(spec);
    await eventually("the first line", () => read(spec.stdoutPath) === "before\n");
    truncateSync(spec.stdoutPath, 0);
    await d.wait(h);
    expect(read(spec.stdoutPath)).toBe("after\n");
  });
});

describe("exec", () => {
  it("runs in the task's container with its environment, stdout and stderr apart, with stdin, cut and timed out", async () => {
    const d = driver();
    const h = await d.start(taskSpec("shell", { command: "sleep", args: ["3600"] }));

    const r = await d.exec(h, ["sh", "-c", 'echo "$GREETING"; echo oops >&2; exit 7'], { timeoutMs: 10_000 });
    expect({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() }).toEqual({ exitCode: 7, stdout: "hello from the env\n", stderr: "oops\n", timedOut: false });

    const cat = await d.exec(h, ["cat"], { timeoutMs: 10_000, stdin: Buffer.from("piped in\n") });
    expect(cat.stdout.toString()).toBe("piped in\n");
    expect(cat.exitCode).toBe(0);

    const big = await d.exec(h, ["sh", "-c", "yes | head -c 100000"], { timeoutMs: 10_000, maxOutputBytes: 1000 });
    expect(big.stdout.length).toBe(1000);

    const started = Date.now();
    const slow = await d.exec(h, ["sleep", "77"], { timeoutMs: 300 });
    expect(slow.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    // It was killed, not just abandoned.
    const ps = await eventually("the timed-out command to be gone", async () => {
      const out = (await d.exec(h, ["ps"], { timeoutMs: 10_000 })).stdout.toString();
      return out.includes("sleep 77") ? undefined : out;
    });
    expect(ps).toContain("sleep 3600");
  });

  it("fails when the task is not running", async () => {
    const d = driver();
    const h = await d.start(taskSpec("done", sh("exit 0")));
    await d.wait(h);
    // 409 at the API (`alloc exec`), from the one table.
    await expect(d.exec(h, ["true"], { timeoutMs: 5000 })).rejects.toMatchObject({ code: ErrorCode.DockerNotRunning, status: 409 });
  });
});

describe("signals and stop", () => {
  it("delivers SIGTERM to the task process itself (through tini), so stop is quick", async () => {
    const spec = taskSpec("graceful", sh('trap "echo got TERM; exit 0" TERM; echo ready; while true; do sleep 0.1; done'));
    const d = driver();
    const h = await d.start(spec);
    await eventually("the task to be ready", () => read(spec.stdoutPath).includes("ready"));
    const started = Date.now();
    await d.stop(h, 10_000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await d.wait(h)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    expect(read(spec.stdoutPath)).toBe("ready\ngot TERM\n");
  });

  it("reports a task that SIGTERM ended as signal 15", async () => {
    const d = driver();
    const h = await d.start(taskSpec("plain", { command: "sleep", args: ["3600"] }));
    const started = Date.now();
    await d.stop(h, 10_000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await d.wait(h)).toEqual({ exitCode: 143, signal: 15, oomKilled: false });
  });

  it("kills a task that ignores the signal once the timeout has passed", async () => {
    const spec = taskSpec("stubborn", sh('trap "" TERM; echo ready; while true; do sleep 0.1; done'));
    const d = driver();
    const h = await d.start(spec);
    await eventually("the task to be ready", () => read(spec.stdoutPath).includes("ready"));
    const started = Date.now();
    await d.stop(h, 1000);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(6000);
    expect(await d.wait(h)).toEqual({ exitCode: 137, signal: 9, oomKilled: false });
    // Stopping what already stopped is fine.
    await d.stop(h, 1000);
  });

  it("stops a paused task", async () => {
    const d = driver();
    const h = await d.start(taskSpec("paused", { command: "sleep", args: ["3600"] }));
    await containerOf(h).pause();
    await d.stop(h, 10_000);
    expect(await d.wait(h)).toEqual({ exitCode: 143, signal: 15, oomKilled: false });
  });

  it("stops with the task's own kill signal, and sends signals by name", async () => {
    const spec = taskSpec("custom", sh('trap "echo got USR1" USR1; trap "echo got INT; exit 3" INT; echo ready; while true; do sleep 0.1; done'));
    const d = driver();
    const h = await d.start(spec);
    await eventually("the task to be ready", () => read(spec.stdoutPath).includes("ready"));
    await d.signal(h, "SIGUSR1");
    await eventually("the task to see SIGUSR1", () => read(spec.stdoutPath).includes("got USR1\n"));
    await expect(d.signal(h, "SIGBOGUS")).rejects.toMatchObject({ code: ErrorCode.DockerBadSignal });
    await d.stop(h, 10_000, "SIGINT");
    expect(await d.wait(h)).toMatchObject({ exitCode: 3 });
    expect(read(spec.stdoutPath)).toBe("ready\ngot USR1\ngot INT\n");
    await expect(d.signal(h, "SIGUSR1")).rejects.toMatchObject({ code: ErrorCode.DockerNotRunning });
  });
});

describe("recover", () => {
  it("finds a running container again after a restart, and can stop it", async () => {
    const spec = taskSpec("lasting", { command: "sleep", args: ["3600"] });
    const a = driver();
    const h = await a.start(spec);
    await a.close();
    const saved = JSON.parse(JSON.stringify(h)) as TaskHandle;
    const b = driver();
    expect(await b.recover(saved, spec)).toBe(true);
    await b.stop(saved, 10_000);
    expect(await b.wait(saved)).toEqual({ exitCode: 143, signal: 15, oomKilled: false });
  });

  it("finds an exited container again, with its exit code", async () => {
    const spec = taskSpec("finished", sh("echo bye; exit 3"));
    const a = driver();
    const h = await a.start(spec);
    await eventually("the task to exit", async () => !(await containerOf(h).inspect()).State.Running);
    await a.close();
    const b = driver();
    expect(await b.recover(h, spec)).toBe(true);
    expect(await b.wait(h)).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
    expect(read(spec.stdoutPath)).toBe("bye\n");
  });

  it("finds the container by its labels when the handle lost its id", async () => {
    const spec = taskSpec("forgotten", { command: "sleep", args: ["3600"] });
    const a = driver();
    const h = await a.start(spec);
    await a.close();
    const lost: TaskHandle = { ...h, state: {} };
    const b = driver();
    expect(await b.recover(lost, spec)).toBe(true);
    expect(lost.state.containerId).toBe(h.state.containerId);
    expect((await b.findTaskContainers(spec.id)).map((c) => c.id)).toEqual([h.state.containerId]);
  });

  it("says false for a container that is gone", async () => {
    const spec = taskSpec("vanished", { command: "sleep", args: ["3600"] });
    const d = driver();
    const h = await d.start(spec);
    await containerOf(h).remove({ force: true });
    expect(await driver().recover(h, spec)).toBe(false);
  });
});

describe("destroy", () => {
  it("removes the container, and is fine with one already gone", async () => {
    const spec = taskSpec("doomed", { command: "sleep", args: ["3600"] });
    const d = driver();
    const h = await d.start(spec);
    await d.stop(h, 10_000);
    await d.destroy(h);
    await expect(containerOf(h).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(await findContainersByLabels(docker, { [Label.JobId]: bed.jobId() })).toEqual([]);
    await d.destroy(h);
    await d.stop(h, 1000);
    expect(await d.wait(h)).toMatchObject({ exitCode: -1, err: expect.stringContaining("is gone") as unknown });
  });

  it("removes a running container and stops copying its output", async () => {
    const spec = taskSpec("running", sh("while true; do echo tick; sleep 0.1; done"));
    const d = driver();
    const h = await d.start(spec);
    await eventually("output", () => read(spec.stdoutPath).includes("tick"));
    await d.destroy(h);
    const after = read(spec.stdoutPath);
    // Copying ends when the follower lets go of the files: nothing was written after destroy.
    await eventually("the task's files let go", () => !holdsOpen(spec.stdoutPath) && !holdsOpen(spec.stderrPath));
    expect(read(spec.stdoutPath)).toBe(after);
    expect(await findContainersByLabels(docker, { [Label.TaskId]: spec.id })).toEqual([]);
  });
});

describe("Nomad's container options, against the engine", () => {
  /** Runs a task to its exit and gives its stdout. */
  async function run(d: DockerDriver, spec: TaskSpec): Promise<string> {
    const h = await d.start(spec);
    expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
    return read(spec.stdoutPath);
  }

  it("init: docker's tini is PID 1 (Ruche's default, and init = true); init = false runs the task as PID 1", async () => {
    const d = driver();
    const pid1 = sh("tr '\\0' ' ' < /proc/1/cmdline; echo");
    expect(await run(d, taskSpec("init", { ...pid1, init: true }))).toMatch(/^\/sbin\/docker-init -- sh -c /);
    expect(await run(d, taskSpec("noinit", { ...pid1, init: false }))).toMatch(/^sh -c /);
  });

  it("shm_size, sysctl, ulimit, readonly_rootfs, devices, group_add, security_opt and healthchecks reach the container", async () => {
    const d = driver();
    const script = [
      "df -k /dev/shm | tail -1 | awk '{print \"shm \" $2}'",
      'echo "somaxconn $(cat /proc/sys/net/core/somaxconn)"',
      'echo "nofile $(ulimit -n) $(ulimit -Hn)"',
      "touch /rootfs-file 2>/dev/null && echo 'rootfs rw' || echo 'rootfs ro'",
      "touch /local/written && echo 'local rw'",
      "test -c /dev/mynull && echo 'device /dev/mynull'",
      'echo "groups $(id -G)"',
      'grep NoNewPrivs /proc/self/status',
    ].join("; ");
    const spec = taskSpec("opts", {
      ...sh(script),
      shm_size: 32 * 1024 * 1024,
      sysctl: [{ "net.core.somaxconn": "1234" }],
      ulimit: [{ nofile: "1024:2048" }],
      readonly_rootfs: true,
      devices: [{ host_path: "/dev/null", container_path: "/dev/mynull" }],
      group_add: ["4321"],
      security_opt: ["no-new-privileges"],
      healthchecks: { disable: true },
    });
    const h = await d.start(spec);
    expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
    const out = read(spec.stdoutPath);
    expect(out).toContain("shm 32768\n");
    expect(out).toContain("somaxconn 1234\n");
    expect(out).toContain("nofile 1024 2048\n");
    expect(out).toContain("rootfs ro\n");
    expect(out).toContain("local rw\n");
    expect(out).toContain("device /dev/mynull\n");
    expect(out).toMatch(/groups .*\b4321\b/);
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    const info = await docker.getContainer(String(h.state.containerId)).inspect();
    expect(info.Config.Healthcheck?.Test).toEqual(["NONE"]);
  });

  it("cpu_hard_limit, memory_hard_limit, oom_score_adj, cpuset_cpus and mac_address reach the container", async () => {
    const d = bed.driver({ coreMhz: 2000 });
    const script = 'echo "oom $(cat /proc/self/oom_score_adj)"; echo "mac $(cat /sys/class/net/eth0/address)"';
    const spec = taskSpec("limits", { ...sh(script), cpu_hard_limit: true, cpu_cfs_period: 50_000, memory_hard_limit: 128, oom_score_adj: 300, cpuset_cpus: "0", mac_address: "02:42:ac:11:99:02" }, { cpu: 500, memoryMB: 64 });
    const h = await d.start(spec);
    expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
    expect(read(spec.stdoutPath)).toBe("oom 300\nmac 02:42:ac:11:99:02\n");
    const info = await docker.getContainer(String(h.state.containerId)).inspect();
    expect(info.HostConfig).toMatchObject({ CpuPeriod: 50_000, CpuQuota: 12_500, Memory: 128 * 1024 * 1024, MemoryReservation: 64 * 1024 * 1024, CpusetCpus: "0" });
  });

  it("security_opt seccomp=<file>: the task's own profile (from its directory) is what the engine enforces", async () => {
    const d = driver();
    const spec = taskSpec("seccomp", { ...sh("mkdir /tmp/made && echo made || echo denied"), security_opt: ["seccomp=local/seccomp.json"] });
    const profile = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }] };
    writeFileSync(join(spec.taskDir, "local", "seccomp.json"), JSON.stringify(profile, null, 2));
    expect(await run(d, spec)).toBe("denied\n");
    const broken = taskSpec("seccomp-bad", { ...sh("true"), security_opt: ["seccomp=local/seccomp.json"] });
    writeFileSync(join(broken.taskDir, "local", "seccomp.json"), "{ not json");
    await expect(d.start(broken)).rejects.toMatchObject({ code: ErrorCode.DockerBadConfig, message: expect.stringContaining("config.security_opt[0]: the seccomp profile") as unknown });
  });

  it("tty: the task has a terminal, and its output still reaches the task's stdout file", async () => {
    const d = driver();
    const spec = taskSpec("tty", { ...sh("test -t 1 && echo 'on a terminal'; echo second line"), tty: true });
    expect((await run(d, spec)).replace(/\r/g, "")).toBe("on a terminal\nsecond line\n");
  });

  it("userns_mode, ipc_mode and uts_mode = host are refused where privileged containers may not run, and run where they may", async () => {
    const spec = taskSpec("userns", { ...sh("echo shared"), userns_mode: "host" });
    const closed = driver();
    expect(closed.validate(spec.config)).toEqual([
      'config.userns_mode = "host" is not allowed on this node: the container\'s root is then the host\'s root; plugin "docker" { config { allow_privileged = true } } in the agent config (-docker-allow-privileged) allows it',
    ]);
    await expect(closed.start(spec)).rejects.toMatchObject({ code: ErrorCode.DockerBadConfig, message: expect.stringContaining("config.userns_mode") as unknown });
    expect(await findContainersByLabels(docker, { [Label.JobId]: bed.jobId() })).toEqual([]);
    const open = bed.driver({ allowPrivileged: true });
    expect(await run(open, taskSpec("hostns", { ...sh("hostname"), userns_mode: "host", uts_mode: "host", ipc_mode: "host" }))).toBe(`${readFileSync("/proc/sys/kernel/hostname", "utf8").trim()}\n`);
  });

  it("runtime: one the engine does not have fails the task, naming it; one not allowed is refused", async () => {
    const d = driver();
    await expect(d.start(taskSpec("gpu", { ...sh("true"), runtime: "nvidia" }))).rejects.toMatchObject({ code: ErrorCode.DockerEngine, message: expect.stringMatching(/nvidia/) as unknown });
    expect(d.validate({ image: TEST_IMAGE, runtime: "kata" })[0]).toContain('config.runtime "kata" is not allowed');
    expect(await run(d, taskSpec("runc", { ...sh("echo runc"), runtime: "runc" }))).toBe("runc\n");
  });

  it("load: an image archive (docker save) in the task's local/ directory is loaded, then run", async () => {
    const repo = `ruche-test/loaded-${randomBytes(4).toString("hex")}`;
    const image = `${repo}:v1`;
    const spec = taskSpec("load", { ...sh("echo from the archive"), image, load: "image.tar" });
    await docker.getImage(TEST_IMAGE).tag({ repo, tag: "v1" });
    try {
      const archive = await docker.getImage(image).get();
      await pipeline(archive, createWriteStream(join(spec.taskDir, "local", "image.tar")));
      await docker.getImage(image).remove();
      await expect(docker.getImage(image).inspect()).rejects.toMatchObject({ statusCode: 404 });
      const d = driver();
      expect(await run(d, spec)).toBe("from the archive\n");
      expect((await docker.getImage(image).inspect()).RepoTags).toContain(image);
      // An archive that does not hold the image named is a clear failure.
      const other = taskSpec("load-other", { ...sh("true"), image: `${repo}:v2`, load: "image.tar" });
      await pipeline(createReadStream(join(spec.taskDir, "local", "image.tar")), createWriteStream(join(other.taskDir, "local", "image.tar")));
      await expect(d.start(other)).rejects.toMatchObject({ code: ErrorCode.DockerImageUnavailable, message: expect.stringContaining(`does not hold image ${repo}:v2; it holds: ${image}`) as unknown });
    } finally {
      await docker.getImage(image).remove().catch(() => undefined);
    }
  });
});
