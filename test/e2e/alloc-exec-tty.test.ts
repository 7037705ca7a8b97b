/**
 * Nomad's streaming routes on a real dev agent: `alloc exec` over a WebSocket (Nomad's
 * `api.ExecStreamingInput`/`Output`) into a raw_exec and an exec task (a terminal from python3's
 * pty) and a docker task (the engine's Tty exec, the busybox test image), with and without a terminal,
 * input, window size and exit code; `ruche alloc exec -i -t`; the logs as Nomad's frames; and
 * `alloc fs` (ls, stat, cat, readat, stream; escapes refused).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, openWebSocket } from "../../src/apiclient/index.js";
import { runCli, type IO } from "../../src/cli/index.js";
import type { WsConnection } from "../../src/structs/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const JOB = `job "shells" {
  datacenters = ["dc1"]
  group "raw" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hello-file > local/hello.txt; ln -s /etc/passwd local/outside; echo started; exec sleep 100000"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
      action "whoami" {
        command = "/bin/sh"
        args    = ["-c", "echo action in $NOMAD_TASK_NAME; exit 4"]
      }
    }
  }
  group "iso" {
    task "iso" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 100000"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
  group "box" {
    task "box" {
      driver = "docker"
      config {
        image   = "ruche-test/busybox:latest"
        command = "sleep"
        args    = ["100000"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-exec-tty-e2e-"));
  writeFileSync(join(dir, "shells.hcl"), JOB);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) {
    await ruche(agent.address, dir, "job", "stop", "-purge", "shells").catch(() => undefined);
    await agent.stop();
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

interface Session {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  closeCode: number;
  closeReason: string;
}

/** Runs one exec session to its end: `inputs` sent once it is open (after `delayMs`), every output frame decoded. */
function session(ws: WsConnection, inputs: unknown[] = [], delayMs = 300): Promise<Session> {
  const s: Session = { stdout: "", stderr: "", exitCode: undefined, closeCode: 0, closeReason: "" };
  return new Promise((resolve) => {
    ws.message((text) => {
      const m = JSON.parse(text) as { stdout?: { data?: string }; stderr?: { data?: string }; exited?: boolean; result?: { exit_code: number } };
      if (m.stdout?.data !== undefined) s.stdout += Buffer.from(m.stdout.data, "base64").toString("utf8");
      if (m.stderr?.data !== undefined) s.stderr += Buffer.from(m.stderr.data, "base64").toString("utf8");
      if (m.exited === true) s.exitCode = m.result?.exit_code;
    });
    ws.closing((code, reason) => {
      s.closeCode = code;
      s.closeReason = reason;
      resolve(s);
    });
    setTimeout(() => {
      for (const i of inputs) ws.send(JSON.stringify(i));
    }, delayMs);
  });
}

const b64 = (t: string): string => Buffer.from(t).toString("base64");

describe("Nomad's streaming routes on a dev agent", () => {
  let api: ApiClient;
  let rawAlloc = "";
  let boxAlloc = "";
  let isoAlloc = "";

  beforeAll(async () => {
    const a = agent as AgentProcess;
    api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "shells.hcl");
    expect(run.err).toBe("");
    const allocs = await until("the three allocations running", async () => {
      const list = (await api.jobAllocations("shells")).body;
      return list.length === 3 && list.every((x) => x.ClientStatus === "running") ? list : undefined;
    }, 60_000);
    isoAlloc = allocs.find((x) => x.TaskGroup === "iso")?.ID ?? "";
    rawAlloc = allocs.find((x) => x.TaskGroup === "raw")?.ID ?? "";
    boxAlloc = allocs.find((x) => x.TaskGroup === "box")?.ID ?? "";
    // The task wrote its files before it printed "started".
    await until("the raw task started", async () => ((await collect(await api.allocLogs(rawAlloc, { task: "t" }))).includes("started") ? true : undefined));
  }, 90_000);

  for (const kind of ["raw_exec", "exec", "docker"] as const) {
    it(`${kind}: a terminal session prints "hi" and ends with exit code 3; input, window size and stderr go through`, async () => {
      const alloc = { docker: boxAlloc, exec: isoAlloc, raw_exec: rawAlloc }[kind];
      const task = { docker: "box", exec: "iso", raw_exec: "t" }[kind];
      const echo = await session(await api.allocExecSession(alloc, { task, command: ["/bin/sh", "-c", "echo hi; exit 3"], tty: true }));
      expect(echo.stdout).toContain("hi");
      expect(echo.exitCode).toBe(3);
      expect(echo.closeCode).toBe(1000);

      // A shell at a terminal: the size sent is the terminal's, what is typed is run.
      const shell = await session(await api.allocExecSession(alloc, { task, command: ["/bin/sh"], tty: true }), [
        { tty_size: { height: 33, width: 111 } },
        { stdin: { data: b64("test -t 0 && echo is-a-tty; stty size; echo typed-$((40+2))\n") } },
        { stdin: { data: b64("exit 5\n") } },
      ]);
      expect(shell.stdout).toContain("is-a-tty");
      expect(shell.stdout).toContain("33 111");
      expect(shell.stdout).toContain("typed-42");
      expect(shell.exitCode, shell.stdout).toBe(5);

      // Without a terminal, stdout and stderr are apart, and closing stdin ends `cat`.
      const pipes = await session(await api.allocExecSession(alloc, { task, command: ["/bin/sh", "-c", "cat; echo err >&2; test -t 0 || echo no-tty; exit 4"], tty: false }), [
        { stdin: { data: b64("through-cat\n") } },
        {},
        { stdin: { close: true } },
      ]);
      expect(pipes.stdout).toBe("through-cat\nno-tty\n");
      expect(pipes.stderr).toBe("err\n");
      expect(pipes.exitCode).toBe(4);
    }, 60_000);
  }

  it("refuses what it cannot run with Nomad's close codes and a message; a plain GET is told to upgrade", async () => {
    const noTask = await api.allocExecSession(rawAlloc, { task: "nope", command: ["/bin/sh"], tty: false }).then(session, (err: unknown) => err);
    expect(noTask).toBeInstanceOf(Error);
    expect(String(noTask)).toContain('no task "nope"');
    const plain = await fetch(`http://${(agent as AgentProcess).address}/v1/client/allocation/${rawAlloc}/exec?task=t&command=${encodeURIComponent('["/bin/sh"]')}`);
    expect(plain.status).toBe(400);
    expect(await plain.text()).toContain("WebSocket");
    const missing = await session(await api.allocExecSession(rawAlloc, { task: "t", command: ["/no/such/program"], tty: false }));
    expect(missing.exitCode).toBe(127);
  }, 30_000);

  it("runs a task's action over Nomad's job action route (as `nomad action` calls it); an allocation of another job is refused", async () => {
    const address = (agent as AgentProcess).address;
    const open = (q: Record<string, string>): Promise<WsConnection> => {
      const url = new URL(`http://${address}/v1/job/shells/action`);
      for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
      return openWebSocket(url, {});
    };
    const ran = await session(await open({ action: "whoami", allocID: rawAlloc, group: "raw", task: "t", tty: "false" }));
    expect(ran).toMatchObject({ stdout: "action in t\n", exitCode: 4, closeCode: 1000 });
    const unknown = await open({ action: "nope", allocID: rawAlloc, group: "raw", task: "t", tty: "false" }).then(session, (err: unknown) => err);
    expect(String(unknown)).toContain('action "nope" not found in task "t"');
    const other = await open({ action: "whoami", allocID: "00000000-0000-0000-0000-000000000000", group: "raw", task: "t" }).then(session, (err: unknown) => err);
    expect(String(other)).toMatch(/not found|no allocation|not one of job/);
  }, 30_000);

  it("kills the command of a session whose client goes away", async () => {
    for (const [alloc, task, tty] of [[rawAlloc, "t", true], [rawAlloc, "t", false], [boxAlloc, "box", true]] as const) {
      const marker = String(40_000 + Math.floor(Math.random() * 9_999));
      const ws = await api.allocExecSession(alloc, { task, command: ["sleep", marker], tty });
      await until(`sleep ${marker} running`, async () => ((await sleepers(marker)).length > 0 ? true : undefined), 10_000);
      ws.close(1000);
      await until(`sleep ${marker} gone once the client went (${task}, tty ${tty})`, async () => ((await sleepers(marker)).length === 0 ? true : undefined), 10_000);
    }
  }, 60_000);

  it("ruche alloc exec -t runs a terminal session and exits with the command's code; -i sends piped input", async () => {
    const a = agent as AgentProcess;
    const tty = await ruche(a.address, dir, "alloc", "exec", "-i=false", "-t", rawAlloc.slice(0, 8), "/bin/sh", "-c", "test -t 1 && echo hi-tty; exit 3");
    expect(tty.out).toContain("hi-tty");
    expect(tty.code).toBe(3);
    let out = "";
    let err = "";
    const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: a.address }, cwd: dir, stdin: Readable.from([Buffer.from("echo piped-$((1+1))\nexit 7\n")]) };
    const code = await runCli(["alloc", "exec", "-i", "-t=false", boxAlloc, "/bin/sh"], io);
    expect(err).toBe("");
    expect(out).toBe("piped-2\n");
    expect(code).toBe(7);
    // The form without a session still works.
    const once = await ruche(a.address, dir, "alloc", "exec", rawAlloc, "/bin/sh", "-c", "echo once; exit 2");
    expect(once.out).toBe("once\n");
    expect(once.code).toBe(2);
  }, 60_000);

  it("serves the logs as Nomad's frames, and raw with plain=true", async () => {
    const a = agent as AgentProcess;
    const res = await fetch(`http://${a.address}/v1/client/fs/logs/${rawAlloc}?task=t&type=stdout&origin=start&offset=0`);
    expect(res.headers.get("content-type")).toBe("application/json");
    const text = await res.text();
    const frames = text.trim().split("\n").map((l) => JSON.parse(l) as { Offset?: number; Data?: string; File?: string });
    expect(frames.map((f) => Buffer.from(f.Data ?? "", "base64").toString()).join("")).toBe("started\n");
    expect(frames.at(-1)?.Offset).toBe("started\n".length);
    const plain = await fetch(`http://${a.address}/v1/client/fs/logs/${rawAlloc}?task=t&type=stdout&plain=true`);
    expect(await plain.text()).toBe("started\n");
    const logs = await ruche(a.address, dir, "alloc", "logs", rawAlloc);
    expect(logs.out).toBe("started\n");
  }, 30_000);

  it("alloc fs: ls, stat, cat, readat, stream as Nomad's; paths out of the allocation directory refused", async () => {
    const a = agent as AgentProcess;
    const base = `http://${a.address}/v1/client/fs`;
    const ls = (await (await fetch(`${base}/ls/${rawAlloc}?path=/`)).json()) as { Name: string; IsDir: boolean; Size: number; FileMode: string; ModTime: string; ContentType: string }[];
    expect(ls.map((f) => f.Name)).toEqual(expect.arrayContaining(["alloc", "t"]));
    const t = ls.find((f) => f.Name === "t");
    expect(Object.keys(t ?? {}).sort()).toEqual(["ContentType", "FileMode", "IsDir", "ModTime", "Name", "Size"]);
    expect(t?.IsDir).toBe(true);
    expect(t?.FileMode).toMatch(/^d[rwx-]{9}$/);
    const stat = (await (await fetch(`${base}/stat/${rawAlloc}?path=t/local/hello.txt`)).json()) as { Name: string; Size: number; IsDir: boolean; ContentType: string; ModTime: string };
    expect(stat).toMatchObject({ Name: "hello.txt", Size: 11, IsDir: false, ContentType: "text/plain; charset=utf-8" });
    expect(Number.isNaN(Date.parse(stat.ModTime))).toBe(false);
    expect(await (await fetch(`${base}/cat/${rawAlloc}?path=t/local/hello.txt`)).text()).toBe("hello-file\n");
    expect(await (await fetch(`${base}/readat/${rawAlloc}?path=t/local/hello.txt&offset=6&limit=4`)).text()).toBe("file");
    const escape = await fetch(`${base}/cat/${rawAlloc}?path=../../../etc/passwd`);
    expect(escape.status).toBe(400);
    const link = await fetch(`${base}/cat/${rawAlloc}?path=t/local/outside`);
    expect(link.status).toBe(403);
    expect(await link.text()).toContain("leads out of the allocation directory");
    // A stream of frames, read until the file's bytes came.
    const ac = new AbortController();
    const stream = await fetch(`${base}/stream/${rawAlloc}?path=t/local/hello.txt&offset=0&origin=start`, { signal: ac.signal });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let got = "";
    while (!got.includes("\n")) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const first = JSON.parse(got.split("\n")[0] ?? "") as { Data: string; File: string; Offset: number };
    expect(Buffer.from(first.Data, "base64").toString()).toBe("hello-file\n");
    expect(first).toMatchObject({ File: "t/local/hello.txt", Offset: 11 });

    const cliLs = await ruche(a.address, dir, "alloc", "fs", rawAlloc, "t/local");
    expect(cliLs.out).toMatch(/^Mode +Size +Modified Time +Name\n-rw-r--r-- +11 B +\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d UTC +hello.txt\n/m);
    const cliCat = await ruche(a.address, dir, "alloc", "fs", rawAlloc, "t/local/hello.txt");
    expect(cliCat.out).toBe("hello-file\n");
    const cliStat = await ruche(a.address, dir, "alloc", "fs", "-stat", "-H", rawAlloc, "t/local/hello.txt");
    expect(cliStat.out).toMatch(/^Mode +Size +Modified Time +Content Type +Name\n-rw-r--r-- +11 +.+ UTC +text\/plain; charset=utf-8 +hello.txt\n$/);
    const cliTail = await ruche(a.address, dir, "alloc", "fs", "-tail", "-c", "5", rawAlloc, "t/local/hello.txt");
    expect(cliTail.out).toBe("file\n");
  }, 30_000);
});

/** The processes on this host whose command line is `sleep <marker>` (docker's run in the engine's pid namespace, seen here too). */
async function sleepers(marker: string): Promise<number[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmd === `sleep\0${marker}\0`) out.push(Number(name));
  }
  return out;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<string> {
  let text = "";
  for await (const c of body) text += Buffer.from(c).toString("utf8");
  return text;
}
