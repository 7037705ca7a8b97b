import { createServer, type Server } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mock, NS, type Job, type ServiceCheck } from "../../structs/index.js";
import { ChecksHook } from "./checks.js";
import { type HookBed, hookBed, tempDirPerTest, until } from "./testing.js";

const root = tempDirPerTest("ruche-checks-hook-");
let listener: Server;
let port = 0;
const beds: HookBed[] = [];
beforeEach(async () => {
  listener = createServer((sock) => sock.end());
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  port = (listener.address() as { port: number }).port;
});
afterEach(async () => {
  for (const b of beds.splice(0)) await b.close();
  await new Promise((r) => listener.close(r));
});

function check(name: string, o: Partial<ServiceCheck> = {}): ServiceCheck {
  return { Name: name, Type: "tcp", Command: "", Args: [], Path: "", Method: "", Protocol: "", Header: {}, PortLabel: "", AddressMode: "host", Interval: 100 * NS.millisecond, Timeout: 200 * NS.millisecond, InitialStatus: "", TaskName: "", SuccessBeforePassing: 0, FailuresBeforeCritical: 0, TLSSkipVerify: false, ...o };
}

function withChecks(checks: ServiceCheck[]): Job {
  const j = mock.job({ id: "checked" });
  j.TaskGroups[0]!.Tasks[0]!.Services = [{ Name: "checked-${NOMAD_TASK_NAME}", PortLabel: "http", AddressMode: "auto", Tags: [], CanaryTags: [], Meta: {}, TaskName: "", Checks: checks }];
  return j;
}

/** A port of 127.0.0.1 nothing listens on: one a server had, closed again. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** The allocation has the port "http" (the listener) and, when given, "closed" (nothing listens). */
function bedFor(job: Job, closed?: number): HookBed {
  const reserved = [{ Label: "http", Value: port, To: 0, HostNetwork: "default" }, ...(closed === undefined ? [] : [{ Label: "closed", Value: closed, To: 0, HostNetwork: "default" }])];
  const bed = hookBed(job, root(), { Resources: { CPU: 100, MemoryMB: 128, DiskMB: 10, Networks: [{ Mode: "host", MBits: 0, IP: "127.0.0.1", ReservedPorts: reserved, DynamicPorts: [] }] } });
  beds.push(bed);
  return bed;
}

describe("the checks hook", () => {
  it("probes each check while its task runs, at the service's port, and reports each change", async () => {
    const bed = bedFor(withChecks([check("alive")]));
    const hook = new ChecksHook(bed.ctx);
    bed.use(hook);
    await hook.prerun();
    // Nothing runs yet: the check keeps its initial status and is not probed.
    expect(hook.reports()).toMatchObject([{ service: "checked-web", check: "alive", task: "web", status: "critical", output: "" }]);
    expect(hook.allPassing()).toBe(false);
    bed.runTasks();
    const [r] = await until("the check passing", () => (hook.allPassing() ? hook.reports() : undefined));
    expect(r?.output).toBe(`TCP connect 127.0.0.1:${port}: Success`);
  });

  it("follows a job updated in place: an unchanged check keeps its state, a changed one starts afresh, a removed one goes", async () => {
    const bed = bedFor(withChecks([check("alive"), check("other")]));
    const hook = new ChecksHook(bed.ctx);
    bed.use(hook);
    await hook.prerun();
    bed.runTasks();
    await until("both checks passing", () => hook.reports().length === 2 && hook.allPassing());
    // "other" now needs two passing probes in a row: a new check, critical until then; "alive" is untouched.
    const next = withChecks([check("alive"), check("other", { SuccessBeforePassing: 2, PortLabel: "1" })]);
    bed.setAlloc({ ...bed.ctx.alloc(), Job: next });
    hook.update();
    expect(hook.reports().map((c) => [c.check, c.status])).toEqual([["alive", "passing"], ["other", "critical"]]);
    bed.setAlloc({ ...bed.ctx.alloc(), Job: withChecks([check("alive")]) });
    hook.update();
    expect(hook.reports().map((c) => c.check)).toEqual(["alive"]);
  });

  it("leaves a check with on_update = \"ignore\" out of the deployment's health, and counts one without it", async () => {
    // Nothing listens on "closed": the check stays critical.
    const closed = await closedPort();
    const failing = (o: Partial<ServiceCheck> = {}): ServiceCheck => check("refused", { PortLabel: "closed", ...o });
    const ignored = bedFor(withChecks([check("alive"), failing({ OnUpdate: "ignore" })]), closed);
    const hook = new ChecksHook(ignored.ctx);
    ignored.use(hook);
    await hook.prerun();
    ignored.runTasks();
    await until("healthy for the deployment despite the refused check", () => hook.allPassing());
    expect(hook.reports().map((c) => [c.check, c.status])).toEqual([["alive", "passing"], ["refused", "critical"]]);

    const counted = bedFor(withChecks([check("alive"), failing()]), closed);
    const strict = new ChecksHook(counted.ctx);
    counted.use(strict);
    await strict.prerun();
    counted.runTasks();
    await until("the alive check passing", () => strict.reports().some((c) => c.check === "alive" && c.status === "passing"));
    expect(strict.allPassing()).toBe(false);
  });

  it("runs a script check inside the task, through its driver", async () => {
    const bed = bedFor(withChecks([check("script", { Type: "script", Command: "/bin/probe", Args: ["--quick"] })]));
    const hook = new ChecksHook(bed.ctx);
    bed.use(hook);
    await hook.prerun();
    bed.runTasks();
    const [r] = await until("the script check passing", () => (hook.allPassing() ? hook.reports() : undefined));
    // The mock driver's exec prints the command it was given.
    expect(r?.output).toBe("/bin/probe --quick");
  });
});
