/**
 * Other people's Nomad job files (test/fixtures/nomad-corpus), run unchanged on a dev agent:
 * every file whose drivers and images this machine has. `raw_exec` and `exec` files run
 * host commands (bash, sleep, python3, ...); docker files that ask for `busybox:1` get the
 * tests' busybox image under that name (it is busybox: built from Debian's busybox-static,
 * no registry here). Each file is run with `ruche job run -detach FILE` and followed until
 * it does what Nomad does with it: a service reaches its allocations running, a batch job
 * completes, a periodic or parameterized job is registered and launches nothing itself. The
 * agent offers the host volume `shared_data` (e2e volume_mounts) and runs bridge groups'
 * pause containers from the tests' image.
 * The test prints one line per file and fails on any file that does not.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const corpus = fileURLToPath(new URL("../fixtures/nomad-corpus/", import.meta.url));

/** What Nomad does with the file: its allocations run, complete, or (a periodic or parameterized parent) none is made. */
type Outcome = "running" | "complete" | "parent";

interface Runnable {
  file: string;
  /** The job's ID (the label of its `job` block). */
  job: string;
  outcome: Outcome;
  /** How many allocations reach the outcome (the job's counts; one per node for system jobs). */
  allocs?: number;
  namespace?: string;
  vars?: Readonly<Record<string, string>>;
}

const RUNNABLE: readonly Runnable[] = [
  { file: "nomad__e2e-affinities-input-multiple_affinities.nomad", job: "test1", outcome: "running", allocs: 4 },
  { file: "nomad__e2e-consul-input-checks_group.nomad", job: "group_check", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-consul-input-checks_task_restart.nomad", job: "task_check", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-deployment-input-deployment_auto0.nomad", job: "deployment_auto.nomad", outcome: "running", allocs: 6 },
  { file: "nomad__e2e-scaling-input-namespace_default_1.nomad.hcl", job: "horizontally_scalable", outcome: "running" },
  { file: "nomad__e2e-scalingpolicies-input-namespace_default_1.nomad", job: "horizontally_scalable", outcome: "running" },
  { file: "nomad__e2e-servicediscovery-input-checks_happy.nomad", job: "checks_happy", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-servicediscovery-input-multi_provider.nomad", job: "service_discovery", outcome: "running" },
  { file: "nomad__e2e-servicediscovery-input-simple_lb_replicas.nomad", job: "simple_lb_replicas", outcome: "running" },
  { file: "nomad__e2e-spread-input-multiple_spread.nomad", job: "r1", outcome: "running", allocs: 10 },
  { file: "nomad__e2e-rescheduling-input-rescheduling_canary_autorevert.nomad", job: "test", outcome: "running", allocs: 3 },
  { file: "nomad__e2e-rescheduling-input-rescheduling_progressdeadline.nomad", job: "demo2", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-example-input-sleep.hcl", job: "sleep", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-example-input-env.hcl", job: "env", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-rawexec-input-oomadj.hcl", job: "oomadj", outcome: "complete", allocs: 1 },
  { file: "nomad-guides__operations-sentinel-jobs-batch.nomad", job: "uptime", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-batch_timeout-input-batch_timeout_basic.hcl", job: "batch-timeout-basic", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-taskevents-input-completed_leader.nomad", job: "completed_leader", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-consul-input-canary_tags.nomad", job: "consul_canary_test", outcome: "running", allocs: 2 },
  { file: "nomad__e2e-nodedrain-input-drain_migrate.nomad", job: "drain_migrate", outcome: "running" },
  { file: "nomad__e2e-nomadexec-input-busybox.hcl", job: "busybox", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-scheduler_system-input-system_job0.nomad", job: "system_job", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-allocexec-input-sleepytar.hcl", job: "sleepytar", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-isolation-input-chroot_docker.nomad", job: "chroot_docker", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-workload_id-input-identity.nomad", job: "identity", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-alloc_logs-input-mixed-output.nomad", job: "alloc-logs", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-isolation-input-raw_exec.hcl", job: "raw_exec", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-isolation-input-exec.hcl", job: "exec", outcome: "complete", allocs: 1 },
  { file: "nomad__e2e-nodedrain-input-drain_killtimeout.nomad", job: "drain_killtimeout", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-lifecycle-inputs-service.nomad", job: "service-lifecycle", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-volume_mounts-input-volumes.nomad", job: "volumes", outcome: "running" },
  { file: "nomad__e2e-networking-inputs-docker_bridged_hostname_interpolation.nomad", job: "networking", outcome: "running", allocs: 1 },
  { file: "nomad__e2e-parameterized-input-simple.nomad", job: "periodic", outcome: "parent" },
  { file: "nomad__e2e-periodic-input-simple.nomad", job: "periodic", outcome: "parent" },
  { file: "nomad__e2e-scheduler_sysbatch-input-sysbatch_periodic.nomad", job: "sysbatchjob", outcome: "parent" },
];

/** Files run at once: enough to keep the agent busy, few enough for a shared machine. */
const AT_ONCE = 3;

let agent: AgentProcess | undefined;
let dir = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-corpus-run-"));
  // The tests' image is busybox; files ask for it by Docker Hub's name.
  await docker("tag", "ruche-test/busybox:latest", "busybox:1");
  // The host volume e2e volume_mounts asks for, and the pause image of bridge groups (no registry here).
  mkdirSync(join(dir, "shared_data"));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-host-volume", `shared_data=${join(dir, "shared_data")}`, "-docker-infra-image", "ruche-test/busybox:latest"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop(30_000);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
  TaskStates?: Record<string, { Events?: { Type: string; DisplayMessage?: string }[] }> | null;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`http://${agent?.address ?? ""}${path}`);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Runs one file and follows it until it does what Nomad does with it; the reason it did not, otherwise. */
async function runFile(r: Runnable): Promise<string | undefined> {
  const address = agent?.address ?? "";
  const ns = r.namespace ?? "default";
  const q = `namespace=${encodeURIComponent(ns)}`;
  const varArgs = Object.entries(r.vars ?? {}).flatMap(([k, v]) => ["-var", `${k}=${v}`]);
  const nsArgs = r.namespace === undefined ? [] : ["-namespace", r.namespace];
  const run = await ruche(address, dir, "job", "run", "-detach", ...nsArgs, ...varArgs, join(corpus, r.file));
  if (run.code !== 0) return `job run exited ${run.code}: ${(run.err || run.out).trim()}`;
  try {
    if (r.outcome === "parent") {
      const job = await until(`${r.job} registered`, async () => {
        const j = await get<{ Status: string }>(`/v1/job/${encodeURIComponent(r.job)}?${q}`);
        return j.Status === "running" ? j : undefined;
      });
      const allocs = await get<AllocStub[]>(`/v1/job/${encodeURIComponent(r.job)}/allocations?${q}`);
      return allocs.length === 0 && job.Status === "running" ? undefined : `the parent itself has ${allocs.length} allocations`;
    }
    const want = r.allocs ?? 1;
    let last: AllocStub[] = [];
    try {
      await until(`${r.job}: ${want} allocations ${r.outcome}`, async () => {
        last = await get<AllocStub[]>(`/v1/job/${encodeURIComponent(r.job)}/allocations?${q}`);
        const failed = last.find((a) => a.ClientStatus === "failed");
        if (failed !== undefined) throw new Error(`allocation ${failed.ID.slice(0, 8)} failed`);
        return last.filter((a) => a.ClientStatus === r.outcome).length >= want ? true : undefined;
      }, 90_000);
    } catch (err) {
      const events = last.flatMap((a) => Object.entries(a.TaskStates ?? {}).flatMap(([task, s]) => (s.Events ?? []).slice(-2).map((e) => `${task}: ${e.Type} ${e.DisplayMessage ?? ""}`.trim())));
      const status = await ruche(address, dir, "job", "status", ...nsArgs, r.job);
      return `${(err as Error).message}; allocations ${last.map((a) => a.ClientStatus).join(",") || "none"}${events.length > 0 ? `; last events: ${events.join(" | ")}` : ""}\n${status.out}`;
    }
    return undefined;
  } finally {
    await ruche(address, dir, "job", "stop", "-purge", "-detach", ...nsArgs, r.job);
    // The next file may use the same job ID: wait for this one to be gone.
    await until(`${r.job} purged`, async () => ((await fetch(`http://${address}/v1/job/${encodeURIComponent(r.job)}?${q}`)).status === 404 ? true : undefined));
  }
}

describe("other people's Nomad job files, run on a dev agent", () => {
  it(`the ${RUNNABLE.length} files this machine can run each do what Nomad does with them`, async () => {
    const lines: string[] = [];
    const failed: string[] = [];
    // Files that share a job ID run one after the other.
    const queue = [...RUNNABLE];
    const running = new Set<string>();
    const workers = Array.from({ length: AT_ONCE }, async () => {
      for (;;) {
        const next = queue.findIndex((r) => !running.has(r.job));
        if (next < 0) {
          if (queue.length === 0) return;
          await new Promise((res) => setTimeout(res, 200));
          continue;
        }
        const [r] = queue.splice(next, 1);
        if (r === undefined) return;
        running.add(r.job);
        const why = await runFile(r).catch((err: unknown) => `crashed: ${String(err)}`);
        running.delete(r.job);
        lines.push(`${why === undefined ? "ran   " : "FAILED"} ${r.file}${why === undefined ? ` (${r.outcome})` : `: ${why}`}`);
        if (why !== undefined) failed.push(r.file);
      }
    });
    await Promise.all(workers);
    lines.push(`${RUNNABLE.length - failed.length} of ${RUNNABLE.length} runnable files ran`);
    process.stdout.write(`${lines.join("\n")}\n`);
    expect(failed).toEqual([]);
    expect(RUNNABLE.length - failed.length).toBeGreaterThanOrEqual(20);
  }, 900_000);
});
