/**
 * A task's output through a dev agent: a raw_exec task writing 3 MB with
 * `logs { max_files = 2, max_file_size = 1 }` never has more than 2 MiB in its log files
 * (sampled every few ms while it writes), and the logs API, following, gives every line in
 * order across the rotations; `ruche alloc logs` then prints what the two kept files hold.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const LINES = 30_000;
/** A line of 101 bytes: "line 000042 ", padding, a newline. */
const line = (i: number): string => `line ${String(i).padStart(6, "0")} ${"x".repeat(88)}\n`;

// 30 bursts of 1,000 lines, 100 ms apart: 3 MB in about 3 s, then "done", and the task waits.
const JOB = `job "chatty" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while [ $i -lt 30 ]; do seq -f 'line %06g ${"x".repeat(88)}' $((i * 1000)) $((i * 1000 + 999)); i=$((i + 1)); sleep 0.1; done; echo done; exec sleep 100000"]
      }
      logs {
        max_files     = 2
        max_file_size = 1
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
  dir = mkdtempSync(join(tmpdir(), "ruche-logs-e2e-"));
  writeFileSync(join(dir, "chatty.hcl"), JOB);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The bytes in the task's stdout files now. */
function stdoutBytes(logs: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(logs);
  } catch {
    return 0;
  }
  for (const f of names) {
    try {
      if (f.startsWith("t.stdout.")) total += statSync(join(logs, f)).size;
    } catch {
      // Removed between the listing and the stat.
    }
  }
  return total;
}

describe("a task's output through the agent", () => {
  it("stays within max_files × max_file_size as it is written, and the logs API follows it across rotations", async () => {
    const a = agent as AgentProcess;
    const dataDir = /^ {4}Data dir: +(\S+)/m.exec(a.out())?.[1] ?? "";
    expect(dataDir).not.toBe("");
    const run = await ruche(a.address, dir, "job", "run", "-detach", "chatty.hcl");
    expect(run.err).toBe("");
    const api = new ApiClient(a.address);
    const allocId = await until("the allocation running", async () => {
      const [stub] = (await api.jobAllocations("chatty")).body;
      return stub?.ClientStatus === "running" ? stub.ID : undefined;
    });
    const logs = join(dataDir, "alloc", allocId, "alloc", "logs");

    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, stdoutBytes(logs));
        await new Promise((r) => setTimeout(r, 3));
      }
    })();

    const ac = new AbortController();
    let followed = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of await api.allocLogs(allocId, { task: "t", follow: true, signal: ac.signal })) {
        followed += decoder.decode(chunk, { stream: true });
        if (followed.endsWith("done\n")) break;
      }
    } finally {
      ac.abort();
      sampling = false;
      await sampler;
    }

    const want = Array.from({ length: LINES }, (_, i) => line(i)).join("") + "done\n";
    expect(followed.length).toBe(want.length);
    expect(followed === want, "the followed output is every line, in order, once").toBe(true);
    expect(peak).toBeGreaterThan(1024 * 1024);
    expect(peak).toBeLessThanOrEqual(2 * 1024 * 1024);

    const files = readdirSync(logs).filter((f) => f.startsWith("t.stdout.")).sort();
    // 3,030,005 bytes in files of 1 MiB: .0, .1 and .2 were written, the two newest kept.
    expect(files).toEqual(["t.stdout.1", "t.stdout.2"]);
    const kept = await ruche(a.address, dir, "alloc", "logs", allocId.slice(0, 8), "t");
    expect(kept.code).toBe(0);
    expect(kept.out).toBe(want.slice(1024 * 1024));

    const stop = await ruche(a.address, dir, "job", "stop", "chatty");
    expect(stop.code).toBe(0);
  }, 60_000);
});
