/**
 * Java jobs through a dev agent, as Nomad's java driver runs them: the node fingerprints its
 * JVM (`driver.java.version`; a `version` constraint on `${attr.driver.java.version}` places
 * the job), a jar compiled by the test
 * is fetched as an artifact from an HTTP server of the test on port 0 of 127.0.0.1 and run
 * with `jar_path`, `jvm_options` and `args` (interpolated); the program shows what it was
 * given in its logs, and its exit code ends the allocation (0: complete; 3: failed, said in
 * the task's events). A job without jar_path or class is refused at validation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { buildJar, HELLO_JAVA } from "../../src/drivers/java/testing.js";
import type { Allocation } from "../../src/structs/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let server: Server | undefined;
let dir = "";
let base = "";

const job = (name: string, exitCode: number): string => `job "${name}" {
  datacenters = ["dc1"]
  type        = "batch"
  constraint {
    attribute = "\${attr.driver.java.version}"
    operator  = "version"
    value     = ">= 1.8"
  }
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "hello" {
      driver = "java"
      artifact {
        source = "${base}/hello.jar"
      }
      config {
        jar_path    = "local/hello.jar"
        jvm_options = ["-Dgreeting=\${NOMAD_JOB_NAME}", "-XX:+UseSerialGC"]
        args        = ["${exitCode}", "\${NOMAD_ALLOC_INDEX}"]
      }
      resources {
        cpu    = 100
        memory = 256
      }
    }
  }
}
`;

async function finished(api: ApiClient, name: string): Promise<Allocation> {
  return until(`the allocation of ${name} to finish`, async () => {
    const [stub] = (await api.jobAllocations(name)).body;
    if (stub === undefined || (stub.ClientStatus !== "complete" && stub.ClientStatus !== "failed")) return undefined;
    return (await api.allocation(stub.ID)).body;
  }, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-java-e2e-"));
  const jar = readFileSync(buildJar(dir, "hello.jar", { Hello: HELLO_JAVA }, "Hello"));
  server = createServer((req, res) => {
    if (req.url === "/hello.jar") res.end(jar);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(join(dir, "ok.hcl"), job("hello-java", 0));
  writeFileSync(join(dir, "fail.hcl"), job("hello-java-fails", 3));
  writeFileSync(join(dir, "nothing.hcl"), job("nothing", 0).replace('jar_path    = "local/hello.jar"', ""));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  await new Promise((r) => server?.close(r));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("java jobs", () => {
  it("the node offers java with its JVM's version, runtime and vm", async () => {
    const api = new ApiClient((agent as AgentProcess).address);
    const node = await until("the node to fingerprint java", async () => {
      const [stub] = (await api.nodes()).body;
      const n = stub === undefined ? undefined : (await api.node(stub.ID)).body;
      return n?.Drivers.java?.Healthy === true ? n : undefined;
    });
    expect(node.Drivers.java?.Detected).toBe(true);
    expect(node.Attributes["driver.java"]).toBe("1");
    expect(node.Attributes["driver.java.version"]).toMatch(/^\d+(\.\d+)*(_\d+)?$/);
    expect(node.Attributes["driver.java.runtime"]).toContain("Runtime Environment");
    expect(node.Attributes["driver.java.vm"]).toContain("VM");
  }, 60_000);

  it("runs a jar fetched as an artifact: jvm_options and args reach the program, its output in the logs, exit 0 completes", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "ok.hcl");
    expect(run.err).toBe("");
    const alloc = await finished(api, "hello-java");
    expect(alloc.ClientStatus, JSON.stringify(alloc.TaskStates)).toBe("complete");
    const logs = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "hello");
    expect(logs.out).toMatch(/^Hello from Java \d/);
    expect(logs.out).toContain("args: 0,0\n");
    expect(logs.out).toContain("greeting: hello-java\n");
    expect(logs.out).toContain("cwd: /\n");
    const stderr = await ruche(a.address, dir, "alloc", "logs", "-stderr", alloc.ID.slice(0, 8), "hello");
    expect(stderr.out).toBe("to stderr\n");
  }, 90_000);

  it("a JVM that exits 3 fails the allocation, with the exit code in the task's events", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "fail.hcl")).code).toBe(0);
    const alloc = await finished(api, "hello-java-fails");
    expect(alloc.ClientStatus).toBe("failed");
    const terminated = alloc.TaskStates.hello?.Events.find((e) => e.Type === "Terminated");
    expect(terminated?.ExitCode).toBe(3);
    const status = await ruche(a.address, dir, "alloc", "status", alloc.ID.slice(0, 8));
    expect(status.out).toContain("Exit Code: 3");
  }, 90_000);

  it("a java task without jar_path or class is refused at validation, in Nomad's words", async () => {
    const a = agent as AgentProcess;
    const v = await ruche(a.address, dir, "job", "validate", "nothing.hcl");
    expect(v.code).not.toBe(0);
    expect(v.err + v.out).toContain("jar_path or class must be specified");
  }, 30_000);
});
