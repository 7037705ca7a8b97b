import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa } from "../../../test/tls-certs.js";
import { MockDriver } from "../../drivers/index.js";
import { mock, NS, silentLogger, type Task, type TaskArtifact, type TaskGroup } from "../../structs/index.js";
import { RestartTracker } from "../restart.js";
import { TaskRunner } from "../task-runner.js";
import { taskSpec } from "../task-spec.js";
import { allocPaths } from "./alloc-dir.js";
import { ArtifactHook, artifactDestination } from "./artifact.js";
import { taskBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-artifact-");

/** What the test server serves; built in beforeAll from real files and the node's tar and zip tools. */
const files = new Map<string, Buffer>();
let server: Server;
let base = "";
let seenHeaders: Record<string, string | string[] | undefined> = {};
let build = "";
/** Requests of /flaky.txt so far: the first is refused. */
let flaky = 0;

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  build = execFileSync("mktemp", ["-d", "/tmp/ruche-artifact-src-XXXXXX"]).toString().trim();
  await mkdir(join(build, "app", "bin"), { recursive: true });
  await writeFile(join(build, "app", "bin", "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await writeFile(join(build, "app", "README"), "the app\n");
  execFileSync("tar", ["-czf", join(build, "app.tar.gz"), "-C", build, "app"]);
  execFileSync("unzip", ["-v"]);
  execFileSync("python3", ["-c", `import zipfile; z=zipfile.ZipFile("${join(build, "app.zip")}","w"); z.writestr("z/one.txt","one\\n"); z.close()`]);
  // A release as HashiCorp ships one: a zip of one executable; and one of two files.
  execFileSync("python3", ["-c", `import zipfile; z=zipfile.ZipFile("${join(build, "tool.zip")}","w"); i=zipfile.ZipInfo("tool"); i.external_attr=0o755<<16; z.writestr(i,"#!/bin/sh\\necho tool\\n"); z.close()`]);
  execFileSync("python3", ["-c", `import zipfile; z=zipfile.ZipFile("${join(build, "two.zip")}","w"); z.writestr("a","a"); z.writestr("b","b"); z.close()`]);
  files.set("/tool.zip", await readFile(join(build, "tool.zip")));
  files.set("/two.zip", await readFile(join(build, "two.zip")));
  files.set("/app.tar.gz", await readFile(join(build, "app.tar.gz")));
  files.set("/app.zip", await readFile(join(build, "app.zip")));
  files.set("/hello.txt", Buffer.from("hello\n"));
  files.set("/notes.txt.gz", gzipSync(Buffer.from("notes\n")));
  server = createServer((req, res) => {
    seenHeaders = req.headers;
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/private.txt") {
      if (req.headers["x-token"] !== "s3cret") {
        res.writeHead(401).end("no");
        return;
      }
      res.end("private\n");
      return;
    }
    if (path.endsWith("evil.txt")) {
      res.end("evil\n");
      return;
    }
    if (path === "/slow.bin") {
      // Headers and a first byte, then nothing: a download that only a kill ends.
      res.writeHead(200, { "content-length": "1000000" });
      res.write("x");
      return;
    }
    if (path === "/flaky.txt" && flaky++ === 0) {
      res.writeHead(503).end("busy");
      return;
    }
    const body = path === "/flaky.txt" ? Buffer.from("at last\n") : files.get(path);
    if (body === undefined) res.writeHead(404).end("not found");
    else res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  execFileSync("rm", ["-rf", build]);
});

function artifact(o: Partial<TaskArtifact>): TaskArtifact {
  return { GetterSource: "", GetterOptions: null, GetterHeaders: null, GetterMode: "any", GetterInsecure: false, RelativeDest: "local/", Chown: false, ...o };
}

function bed(artifacts: TaskArtifact[], node = mock.node()) {
  const b = taskBed(root());
  b.ctx.task.Artifacts = artifacts;
  return { ...b, hook: new ArtifactHook(b.ctx, node), local: join(b.ctx.spec.taskDir, "local") };
}

describe("the artifact hook", () => {
  it("unpacks a tar.gz into local/, downloads a file beside it, and says so first", async () => {
    const b = bed([artifact({ GetterSource: `${base}/app.tar.gz` }), artifact({ GetterSource: `${base}/hello.txt` })]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "app", "README"), "utf8")).toBe("the app\n");
    expect((await stat(join(b.local, "app", "bin", "run.sh"))).mode & 0o111).not.toBe(0);
    expect(await readFile(join(b.local, "hello.txt"), "utf8")).toBe("hello\n");
    expect(b.events.map((e) => [e.Type, e.Message])).toEqual([["Downloading Artifacts", "Client is downloading artifacts"]]);
    // Fetched once: a restart does not fetch again.
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(b.events).toHaveLength(1);
  });

  it("checks a checksum given in options or in the source's query, and refuses a wrong one as Nomad does (recoverable)", async () => {
    const good = sha256(files.get("/hello.txt") as Buffer);
    const b = bed([
      artifact({ GetterSource: `${base}/hello.txt`, GetterOptions: { checksum: `sha256:${good}` }, RelativeDest: "local/a" }),
      artifact({ GetterSource: `${base}/hello.txt?checksum=sha256:${good}`, RelativeDest: "local/b" }),
    ]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "b", "hello.txt"), "utf8")).toBe("hello\n");

    const wrong = "0".repeat(64);
    const bad = bed([artifact({ GetterSource: `${base}/hello.txt`, GetterOptions: { checksum: `sha256:${wrong}` } })]);
    const r = await bad.hook.prestart();
    expect(r).toMatchObject({ ok: false, event: "Failed Artifact Download", recoverable: true });
    if (r.ok) throw new Error("accepted");
    expect(r.reason).toBe(`failed to download artifact "${base}/hello.txt": Checksums did not match for hello.txt. Expected: ${wrong} Got: ${good}`);
    expect(r.details).toEqual({ download_error: r.reason });
  });

  it("checks md5, sha1 and sha512 sums too", async () => {
    const body = files.get("/hello.txt") as Buffer;
    for (const t of ["md5", "sha1", "sha512"]) {
      const b = bed([artifact({ GetterSource: `${base}/hello.txt`, GetterOptions: { checksum: `${t}:${createHash(t).update(body).digest("hex")}` } })]);
      expect(await b.hook.prestart()).toEqual({ ok: true });
    }
  });

  it("keeps an archive whole with archive=false, unpacks a zip, and a .gz in mode file to the file named", async () => {
    const b = bed([
      artifact({ GetterSource: `${base}/app.tar.gz?archive=false`, RelativeDest: "local/raw" }),
      artifact({ GetterSource: `${base}/app.zip`, RelativeDest: "local/zip" }),
      artifact({ GetterSource: `${base}/notes.txt.gz`, GetterMode: "file", RelativeDest: "local/notes.txt" }),
    ]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "raw", "app.tar.gz"))).toEqual(files.get("/app.tar.gz"));
    expect(await readFile(join(b.local, "zip", "z", "one.txt"), "utf8")).toBe("one\n");
    expect(await readFile(join(b.local, "notes.txt"), "utf8")).toBe("notes\n");
  });

  it("unpacks an archive of one file in mode file to that file; an archive of more is a failure, not retried", async () => {
    const b = bed([
      artifact({ GetterSource: `${base}/tool.zip`, GetterMode: "file", RelativeDest: "local/bin/tool" }),
      artifact({ GetterSource: `${base}/app.zip`, GetterMode: "file", RelativeDest: "local/one.txt" }),
    ]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "bin", "tool"), "utf8")).toBe("#!/bin/sh\necho tool\n");
    expect((await stat(join(b.local, "bin", "tool"))).mode & 0o111).not.toBe(0);
    expect(await readFile(join(b.local, "one.txt"), "utf8")).toBe("one\n");

    const two = bed([artifact({ GetterSource: `${base}/two.zip`, GetterMode: "file", RelativeDest: "local/x" })]);
    expect(await two.hook.prestart()).toMatchObject({
      ok: false,
      reason: `failed to download artifact "${base}/two.zip": expected a single file: the zip archive holds 2 entries, and mode "file" takes one file`,
      recoverable: false,
    });
  });

  it("takes an absolute destination out of the allocation from the task's directory, as Nomad's ClientPath does", async () => {
    const b = bed([
      artifact({ GetterSource: `${base}/hello.txt`, GetterMode: "file", RelativeDest: "/local/etc/hello.conf" }),
      artifact({ GetterSource: `${base}/app.tar.gz`, RelativeDest: "/app/latest" }),
    ]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "etc", "hello.conf"), "utf8")).toBe("hello\n");
    expect(await readFile(join(b.ctx.spec.taskDir, "app", "latest", "app", "README"), "utf8")).toBe("the app\n");
    expect(artifactDestination("/srv/x", "/d/a1/web", "/d/a1/alloc")).toBe("/d/a1/web/srv/x");
    expect(artifactDestination("/d/a1/alloc/data", "/d/a1/web", "/d/a1/alloc")).toBe("/d/a1/alloc/data");
    expect(artifactDestination("/d/a1/web/local", "/d/a1/web", "/d/a1/alloc")).toBe("/d/a1/web/local");
    expect(artifactDestination("local/x", "/d/a1/web", "/d/a1/alloc")).toBe("/d/a1/web/local/x");
  });

  it("keeps only a subdirectory of an archive with //subdir", async () => {
    const b = bed([artifact({ GetterSource: `${base}/app.tar.gz//app/bin`, RelativeDest: "local/bin" })]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "bin", "run.sh"), "utf8")).toContain("echo hi");
  });

  it("sends the artifact's headers, interpolated; a refused request is the status code", async () => {
    const b = bed([artifact({ GetterSource: `${base}/private.txt`, GetterHeaders: { "X-Token": "${NOMAD_META_token}" } })]);
    b.ctx.spec.env.NOMAD_META_token = "s3cret";
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(seenHeaders["x-token"]).toBe("s3cret");
    expect(await readFile(join(b.local, "private.txt"), "utf8")).toBe("private\n");

    const denied = bed([artifact({ GetterSource: `${base}/private.txt` })]);
    expect(await denied.hook.prestart()).toMatchObject({ ok: false, reason: `failed to download artifact "${base}/private.txt": bad response code: 401`, recoverable: true });
  });

  it("interpolates the source and the destination with the node's values and the node's own paths", async () => {
    const node = mock.node({ meta: { file: "hello.txt" } });
    const b = bed([artifact({ GetterSource: `${base}/\${meta.file}`, GetterMode: "file", RelativeDest: "${NOMAD_ALLOC_DIR}/shared.txt" })], node);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.ctx.spec.allocDir, "alloc", "shared.txt"), "utf8")).toBe("hello\n");
  });

  it("names a file by its URL's last segment decoded, never a path: an encoded ../ stays in the destination", async () => {
    const b = bed([artifact({ GetterSource: `${base}/x/..%2F..%2F..%2Fevil.txt` })]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "evil.txt"), "utf8")).toBe("evil\n");
  });

  it("refuses a destination out of the allocation's directory for good (not recoverable)", async () => {
    const b = bed([artifact({ GetterSource: `${base}/hello.txt`, RelativeDest: "../../../etc" })]);
    expect(await b.hook.prestart()).toMatchObject({ ok: false, reason: `failed to download artifact "${base}/hello.txt": artifact destination path escapes alloc directory`, recoverable: false });
  });

  it("copies a local file and clones a local git repository at a ref", async () => {
    const repo = join(root(), "repo.git");
    const git = (...args: string[]): string => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args]).toString();
    await mkdir(repo);
    git("init", "-q", "-b", "main");
    await writeFile(join(repo, "v.txt"), "one\n");
    git("add", "v.txt");
    git("commit", "-q", "-m", "one");
    git("tag", "v1");
    await writeFile(join(repo, "v.txt"), "two\n");
    git("commit", "-q", "-am", "two");
    await writeFile(join(root(), "plain.txt"), "plain\n");
    const b = bed([
      artifact({ GetterSource: `file://${join(root(), "plain.txt")}`, RelativeDest: "local/files" }),
      artifact({ GetterSource: `git::${repo}`, GetterOptions: { ref: "v1" }, RelativeDest: "local/v1" }),
      artifact({ GetterSource: repo, GetterOptions: { depth: "1" }, RelativeDest: "local/head" }),
    ]);
    expect(await b.hook.prestart()).toEqual({ ok: true });
    expect(await readFile(join(b.local, "files", "plain.txt"), "utf8")).toBe("plain\n");
    expect(await readFile(join(b.local, "v1", "v.txt"), "utf8")).toBe("one\n");
    expect(await readFile(join(b.local, "head", "v.txt"), "utf8")).toBe("two\n");
  });

  it("reads no local file out of the allocation on a node without raw_exec (filesystem isolation)", async () => {
    await writeFile(join(root(), "secret.txt"), "secret\n");
    const b = bed([artifact({ GetterSource: join(root(), "secret.txt") })], mock.node({ drivers: ["docker", "mock"] }));
    const r = await b.hook.prestart();
    expect(r).toMatchObject({ ok: false, recoverable: false });
    if (r.ok) throw new Error("accepted");
    expect(r.reason).toContain("is outside the allocation directory");
    await expect(stat(join(b.local, "secret.txt"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses an archive whose symlinks point out of the allocation", async () => {
    const dir = join(root(), "evil");
    await mkdir(dir);
    execFileSync("ln", ["-s", "/etc/passwd", join(dir, "passwd")]);
    execFileSync("tar", ["-cf", join(root(), "evil.tar"), "-C", dir, "passwd"]);
    const b = bed([artifact({ GetterSource: join(root(), "evil.tar") })]);
    const r = await b.hook.prestart();
    expect(r).toMatchObject({ ok: false, recoverable: false });
    if (r.ok) throw new Error("accepted");
    expect(r.reason).toContain("symlinks that point out of the allocation directory: passwd");
    await expect(stat(join(b.local, "passwd"))).rejects.toThrow(/ENOENT/);
  });

  it("restarts the task by its restart policy after a failed download, as Nomad retries it; past the attempts, the task fails", async () => {
    const run = async (attempts: number) => {
      const job = mock.job();
      const group = job.TaskGroups[0] as TaskGroup;
      const task = group.Tasks[0] as Task;
      task.Driver = "mock";
      task.Config = { run_for: "10ms" };
      task.Artifacts = [artifact({ GetterSource: `${base}/flaky.txt` })];
      const node = mock.node();
      const alloc = mock.alloc(job, node, 0);
      const spec = taskSpec(alloc, group, task, node, allocPaths(root(), alloc.ID));
      const r = new TaskRunner({
        driver: new MockDriver(),
        spec,
        task,
        restart: new RestartTracker({ Attempts: attempts, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" }, "batch"),
        changed: () => undefined,
        log: silentLogger,
        now: () => Date.now(),
        random: () => 0,
        node,
      });
      await r.run();
      return { state: r.state, spec };
    };
    flaky = 0;
    const retried = await run(1);
    expect(retried.state.Events.map((e) => e.Type)).toEqual(["Received", "Task Setup", "Downloading Artifacts", "Failed Artifact Download", "Restarting", "Task Setup", "Downloading Artifacts", "Started", "Terminated", "Not Restarting"]);
    expect(retried.state.Failed).toBe(false);
    expect(await readFile(join(retried.spec.taskDir, "local", "flaky.txt"), "utf8")).toBe("at last\n");

    flaky = 0;
    const failed = await run(0);
    expect(failed.state.Events.map((e) => e.Type)).toEqual(["Received", "Task Setup", "Downloading Artifacts", "Failed Artifact Download", "Not Restarting"]);
    expect(failed.state.Events[3]?.Message).toBe(`failed to download artifact "${base}/flaky.txt": bad response code: 503`);
    expect(failed.state.Failed).toBe(true);
  });

  it("checks an https server's certificate unless the artifact says insecure = true", async () => {
    const cert = await (await testCa()).issue("localhost", ["localhost", "127.0.0.1"]);
    const tls = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
      res.end("over tls\n");
    });
    await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
    try {
      const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/tls.txt`;
      const strict = bed([artifact({ GetterSource: url })]);
      const r = await strict.hook.prestart();
      expect(r).toMatchObject({ ok: false, recoverable: true });
      if (r.ok) throw new Error("accepted");
      expect(r.reason).toMatch(/certificate/i);
      const lax = bed([artifact({ GetterSource: url, GetterInsecure: true })]);
      expect(await lax.hook.prestart()).toEqual({ ok: true });
      expect(await readFile(join(lax.local, "tls.txt"), "utf8")).toBe("over tls\n");
    } finally {
      await new Promise((r) => tls.close(r));
    }
  });

  it("aborts a download when the task is killed: the task is dead, not failed", async () => {
    const job = mock.job();
    const group = job.TaskGroups[0] as TaskGroup;
    const task = group.Tasks[0] as Task;
    task.Driver = "mock";
    task.Config = {};
    task.Artifacts = [artifact({ GetterSource: `${base}/slow.bin` })];
    const node = mock.node();
    const alloc = mock.alloc(job, node, 0);
    const r = new TaskRunner({
      driver: new MockDriver(),
      spec: taskSpec(alloc, group, task, node, allocPaths(root(), alloc.ID)),
      task,
      restart: new RestartTracker({ Attempts: 3, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" }, "service"),
      changed: () => undefined,
      log: silentLogger,
      now: () => Date.now(),
      random: () => 0,
      node,
    });
    const done = r.run();
    const deadline = Date.now() + 5000;
    while (!r.state.Events.some((e) => e.Type === "Downloading Artifacts") && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    await new Promise((res) => setTimeout(res, 100));
    const started = Date.now();
    await r.kill("the test is over");
    await done;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.state.State).toBe("dead");
    expect(r.state.Failed).toBe(false);
    expect(r.state.Events.map((e) => e.Type)).not.toContain("Failed Artifact Download");
  });
});
