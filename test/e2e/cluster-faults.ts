/**
 * The cluster's fault tests, run by cluster.test.ts (three servers on an external three-member
 * etcd) and cluster-managed.test.ts (three servers that run their own etcd members): three
 * client agents and an edge router that know all three servers, and a service of 6 busybox
 * httpd containers served through the router under steady load. Faults, one phase after
 * another on the same cluster, each phase leaving three servers and three etcd members
 * running for the next:
 *
 * 1. `kill -9` of the leader while 8 writers put Consul KV keys on every server and the job
 *    rolls to a new version: another server leads within 3 s, every acknowledged write is on
 *    every surviving server (default and stale reads), no allocation is placed twice or
 *    restarted, no request through the router fails. Then the killed server is started again
 *    on its data dir.
 * 2. SIGSTOP of the leader for 10 s, then SIGCONT: another server leads meanwhile; the old
 *    one steps down, says so, names the new leader, and writes nothing to etcd. "Nothing" is
 *    observed without trusting the fence: the new leader is itself paused (for less than its
 *    lease) around the old one's SIGCONT, so that the only servers able to write then are the
 *    deposed leader, meeting its timers and the writes queued while it was paused, and a
 *    follower; etcd's keys are compared at the revision before and after that window.
 * 3. etcd: one member killed, then the etcd leader: writes go on; quorum lost: writes answer
 *    503 RUCHE_NO_LEADER saying why, stale reads answer, and once quorum is back writes
 *    succeed and nothing acknowledged is lost.
 * 4. The Consul KV histories recorded by 8 clients across phases 1 and 2 are linearizable.
 *
 * What differs between the two etcd setups (where etcd runs, how a member is killed, brought
 * back or held down, what a server's death does to its member) is the `ClusterMode` a test
 * file passes; the phases and their checks are the same code.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorMessage } from "../../src/structs/index.js";
import { ClusterFleet, consul, http, leaderNamedBy, type ClusterServer, type FleetEtcd } from "./cluster-fleet.js";
import { RouterLoad, routed, webJob } from "./fleet.js";
import { docker, ruche, until } from "./harness.js";
import { recordKvHistory, type KvHistory } from "./kv-history.js";
import { checkKvHistory, describeCheck, formatOp, type CheckResult } from "./linearizability.js";

/** One etcd member as a phase sees it: killed or paused by a signal, named as etcd names it. */
export interface EtcdMember {
  /** Its name in etcd's member list. */
  readonly name: string;
  readonly clientURL: string;
  /** Sends its process a signal (SIGKILL, SIGSTOP, SIGCONT). */
  kill(signal: NodeJS.Signals): void;
}

/** What differs between the cluster's etcd setups: names that keep parallel runs apart, and the etcd faults. */
export interface ClusterMode {
  /** The log lines' prefix, `[label] ...`, and the describe block's title. */
  label: string;
  title: string;
  /** The job (its containers are found by its name's label), its router host, the region, the temporary dir's prefix. */
  job: string;
  host: string;
  region: string;
  tmpPrefix: string;
  /** The client agents' dynamic ports start here (3000 ports: 1000 per node). */
  dynamicPortBase: number;
  /** The environment variable that names a dir to keep every agent's log in. */
  logsEnv: string;
  /** Starts what must run before the servers (an external etcd); what the servers are given. */
  startEtcd(dir: string): Promise<FleetEtcd>;
  stopEtcd(): Promise<void>;
  /** The etcd members, once the fleet runs. */
  members(f: ClusterFleet): EtcdMember[];
  /** Every member running (killed ones started again, paused ones resumed) and healthy. */
  allMembersUp(f: ClusterFleet): Promise<void>;
  /** A member killed with SIGKILL answers again (started again by the test, or by its server); what happened, for the log. */
  memberBack(f: ClusterFleet, m: EtcdMember): Promise<string>;
  /** Quorum lost, `killedLeader` having been killed just before; `restore` brings it back. */
  loseQuorum(f: ClusterFleet, killedLeader: EtcdMember): Promise<{ what: string; restore(): Promise<void> }>;
  /** Checks of phase 1 beyond the shared ones: before the leader is killed, after, and once it runs again. Each answers figures for the log. */
  leaderKill?: {
    before(f: ClusterFleet, leader: ClusterServer): Promise<string>;
    after(f: ClusterFleet, killed: ClusterServer, survivors: ClusterServer[]): Promise<string>;
    restarted(f: ClusterFleet, s: ClusterServer): Promise<string>;
  };
}

/** Which member leads etcd, as the members that answer say. */
export async function etcdLeaderOf(members: EtcdMember[]): Promise<EtcdMember> {
  for (const m of members) {
    const c = new Etcd3({ hosts: m.clientURL, dialTimeout: 1000 });
    try {
      const st = await c.maintenance.status();
      const all = await c.cluster.memberList({});
      const name = all.members.find((x) => x.ID === st.leader)?.name;
      const leader = members.find((x) => x.name === name);
      if (leader !== undefined) return leader;
    } catch {
      // Try the next member.
    } finally {
      c.close();
    }
  }
  throw new Error("no etcd member names a leader");
}

/** Declares the fault tests (hooks and phases) for `mode`, in the calling test file. */
export function clusterFaultTests(mode: ClusterMode): void {
  const JOB = mode.job;
  const HOST = mode.host;
  const COUNT = 6;
  const PREFIX = `/ruche/${mode.region}/`;
  const LEADER_KEY = `${PREFIX}leader`;
  const LIN_KEYS = ["lin/a", "lin/b", "lin/c"];

  let dir = "";
  let fleet: ClusterFleet | undefined;
  let etcdClient: Etcd3 | undefined;
  /** What the recorders saw, by phase, for the linearizability check. */
  const histories: { phase: string; history: KvHistory }[] = [];
  /** Every write acknowledged so far (key → value), across phases: none may be lost. */
  const acked = new Map<string, string>();

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** Load a phase started and has not stopped (it failed before): stopped before the next phase begins. */
  const strays = new Set<() => Promise<unknown>>();
  async function stopStrays(): Promise<void> {
    const all = [...strays];
    strays.clear();
    await Promise.allSettled(all.map((stop) => stop()));
  }

  /** The job at `rev`: webJob with a job meta (a new value is a new version that replaces the allocations) and a quick rolling update. */
  function jobAt(rev: number): string {
    return webJob(JOB, COUNT, HOST)
      .replace(`  group "web" {\n`, `  meta {\n    rev = "${rev}"\n  }\n  group "web" {\n    update {\n      max_parallel     = 2\n      min_healthy_time = "1s"\n      healthy_deadline = "1m"\n    }\n`);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), mode.tmpPrefix));
    const etcd = await mode.startEtcd(dir);
    fleet = await ClusterFleet.start({ dir, etcd, region: mode.region, clients: 3, dynamicPortBase: mode.dynamicPortBase });
    etcdClient = new Etcd3({ hosts: mode.members(fleet).map((m) => m.clientURL), dialTimeout: 2000 });
    writeFileSync(join(dir, "job-1.hcl"), jobAt(1));
    writeFileSync(join(dir, "job-2.hcl"), jobAt(2));
    const leader = await fleet.leader();
    const run = await ruche(http(leader), dir, "job", "run", "-detach", "job-1.hcl");
    if (run.code !== 0) throw new Error(`job run failed: ${run.err}`);
    await until(`${COUNT} running allocations`, async () => (running(await allocations(fleet as ClusterFleet)).length === COUNT ? true : undefined), 120_000);
    await routed(fleet.router.routerAddress, HOST, 60_000);
  }, 300_000);

  afterAll(async () => {
    await stopStrays();
    const f = fleet;
    // RUCHE_CLUSTER_E2E_LOGS=DIR (cluster.test.ts; see mode.logsEnv) keeps every agent's log there.
    const keep = process.env[mode.logsEnv];
    if (keep !== undefined && f !== undefined) {
      mkdirSync(keep, { recursive: true });
      for (const s of f.servers) writeFileSync(join(keep, `${s.name}.log`), s.agent?.err() ?? "");
      writeFileSync(join(keep, "router.log"), f.router.err());
      for (const c of f.clients) writeFileSync(join(keep, `${c.name}.log`), c.agent?.err() ?? "");
    }
    if (f !== undefined) {
      const up = f.running()[0];
      if (up !== undefined) await ruche(http(up), dir, "job", "stop", "-purge", "-detach", JOB).catch(() => undefined);
      await until("the job's containers to go", async () => ((await docker("ps", "-q", "--filter", `label=com.ruche.job_id=${JOB}`)) === "" ? true : undefined), 60_000).catch(() => undefined);
      await f.stop();
    }
    const left = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${JOB}`).catch(() => "");
    if (left !== "") await docker("rm", "-f", ...left.split("\n"));
    etcdClient?.close();
    await mode.stopEtcd();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  // --- observing the cluster -------------------------------------------------------------

  interface Alloc {
    ID: string;
    Name: string;
    JobVersion: number;
    DesiredStatus: string;
    ClientStatus: string;
    NodeID: string;
    ModifyIndex: number;
    /** `StartedAt` in RFC 3339, as Nomad's API has it (Go's zero time before the task starts). */
    TaskStates: Record<string, { State: string; Restarts: number; StartedAt: string } | undefined> | null;
  }

  /** The job's allocations, from the first running server that answers (a stale read: whatever it holds). */
  async function allocations(f: ClusterFleet, stale = true): Promise<Alloc[]> {
    let last: unknown;
    for (const s of f.running()) {
      try {
        const r = await fetch(`http://${http(s)}/v1/job/${JOB}/allocations${stale ? "?stale" : ""}`, { signal: AbortSignal.timeout(2000) });
        if (r.ok) return (await r.json()) as Alloc[];
        last = new Error(`${s.name} answered ${r.status}`);
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no server listed the job's allocations (${errorMessage(last)})`);
  }

  function running(allocs: Alloc[], version?: number): Alloc[] {
    return allocs.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running" && (version === undefined || a.JobVersion === version));
  }

  /**
   * Samples the job's allocations a few times a second and remembers every breach of "never
   * placed twice, never restarted": more than COUNT running for one version, two allocations of
   * one Name both meant to run and running, a task whose start time changes or that counts a
   * restart, an allocation meant to run that stops running. Samples come from whichever
   * server answers (a stale read): an allocation's copy older than one seen before (a lower
   * ModifyIndex, from a server that lags) is passed over.
   */
  class AllocWatch {
    readonly breaches: string[] = [];
    samples = 0;
    private readonly started = new Map<string, number>();
    private readonly wasRunning = new Set<string>();
    /** Each allocation's highest ModifyIndex seen: a server that lags behind another answers an older copy, which is no step back. */
    private readonly seenIndex = new Map<string, number>();
    private stopped = false;
    private done: Promise<void> = Promise.resolve();

    constructor(private readonly f: ClusterFleet) {}

    start(): void {
      this.done = (async () => {
        while (!this.stopped) {
          try {
            this.sample(await allocations(this.f));
          } catch {
            // No server answered this time.
          }
          await sleep(250);
        }
      })();
    }

    async stop(): Promise<void> {
      this.stopped = true;
      await this.done;
    }

    private breach(what: string): void {
      if (this.breaches.length < 20) this.breaches.push(`sample ${this.samples}: ${what}`);
    }

    sample(allocs: Alloc[]): void {
      this.samples++;
      const perVersion = new Map<number, number>();
      for (const a of allocs.filter((x) => x.ClientStatus === "running")) perVersion.set(a.JobVersion, (perVersion.get(a.JobVersion) ?? 0) + 1);
      for (const [v, n] of perVersion) if (n > COUNT) this.breach(`${n} allocations of version ${v} running (count ${COUNT})`);
      const byName = new Map<string, Alloc>();
      for (const a of running(allocs)) {
        const other = byName.get(a.Name);
        if (other !== undefined) this.breach(`${a.Name} runs twice: ${other.ID} and ${a.ID}`);
        byName.set(a.Name, a);
      }
      for (const a of allocs) {
        if (a.ModifyIndex < (this.seenIndex.get(a.ID) ?? 0)) continue;
        this.seenIndex.set(a.ID, a.ModifyIndex);
        const t = a.TaskStates?.web;
        if (a.ClientStatus === "running" && t !== undefined) {
          if (t.Restarts > 0) this.breach(`${a.Name} ${a.ID}: ${t.Restarts} restarts`);
          const first = this.started.get(a.ID);
          const startedAt = Math.max(0, Date.parse(t.StartedAt) || 0);
          if (first === undefined && startedAt > 0) this.started.set(a.ID, startedAt);
          else if (first !== undefined && startedAt !== first) this.breach(`${a.Name} ${a.ID}: started again (${new Date(first).toISOString()} → ${t.StartedAt})`);
        }
        if (a.DesiredStatus === "run" && a.ClientStatus === "running") this.wasRunning.add(a.ID);
        else if (a.DesiredStatus === "run" && this.wasRunning.has(a.ID)) this.breach(`${a.Name} ${a.ID}: meant to run, now ${a.ClientStatus} (at index ${a.ModifyIndex})`);
      }
    }
  }

  type Answer = { status: number; code: string | undefined; message: string; text: string; ms: number } | { error: string; ms: number };

  /** A Consul KV write; its answer, or what went wrong, and how long it took. */
  async function putKv(address: string, key: string, value: string, timeoutMs = 5000): Promise<Answer> {
    const t = Date.now();
    try {
      const r = await fetch(`http://${address}/v1/kv/${key}`, { method: "PUT", body: value, signal: AbortSignal.timeout(timeoutMs) });
      const text = (await r.text()).trim();
      let code: string | undefined;
      let message = "";
      try {
        const b = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = b.error?.code;
        message = b.error?.message ?? "";
      } catch {
        // Not Ruche's JSON error body.
      }
      return { status: r.status, code, message, text, ms: Date.now() - t };
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      return { error: e.cause?.code ?? e.name ?? errorMessage(err), ms: Date.now() - t };
    }
  }

  function label(a: Answer): string {
    return "error" in a ? a.error : `${a.status}${a.code === undefined ? "" : ` ${a.code}`}`;
  }

  /** Every key under `prefix` with its value, as `s`'s Consul API answers a recursive read (`?stale` or default). */
  async function kvTree(s: ClusterServer, prefix: string, stale: boolean): Promise<Map<string, string>> {
    const read = (): Promise<Response> => fetch(`http://${consul(s)}/v1/kv/${prefix}?recurse${stale ? "&stale" : ""}`, { signal: AbortSignal.timeout(10_000) });
    let r = await read();
    // A consistent read while etcd elects a leader (as it may just after its quorum is back) is
    // refused with 503 RUCHE_NO_LEADER, saying so: read again, as a client would, for a while.
    for (const end = Date.now() + 20_000; !stale && r.status === 503 && Date.now() < end; ) {
      await r.text();
      await sleep(250);
      r = await read();
    }
    if (r.status === 404) return new Map();
    if (!r.ok) throw new Error(`GET /v1/kv/${prefix}?recurse${stale ? "&stale" : ""} on ${s.name} answered ${r.status}: ${await r.text()}`);
    const entries = (await r.json()) as { Key: string; Value: string | null }[];
    return new Map(entries.map((e) => [e.Key, e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8")]));
  }

  /** The acknowledged writes missing (or with another value) on `s`, read with default consistency, then `?stale` (after that barrier). */
  async function missingOn(s: ClusterServer): Promise<string[]> {
    const out: string[] = [];
    for (const stale of [false, true]) {
      const tree = await kvTree(s, "acked/", stale);
      const lost = [...acked].filter(([k, v]) => tree.get(k) !== v);
      if (lost.length > 0) out.push(`${s.name}${stale ? " (?stale)" : ""}: ${lost.length} of ${acked.size} acknowledged writes missing, e.g. ${lost.slice(0, 5).map(([k, v]) => `${k}=${v} (has ${tree.get(k) ?? "nothing"})`).join(", ")}`);
    }
    return out;
  }

  /**
   * 8 writers putting new keys one after another, each on the servers in turn; the writes
   * answered 200 `true` go to `acked`; the others are counted by what failed them.
   */
  class KvWriters {
    readonly failures: Record<string, number> = {};
    /** The first message of each kind of failure. */
    readonly messages: Record<string, string> = {};
    ok = 0;
    private stopped = false;
    private done: Promise<void> = Promise.resolve();

    constructor(
      private readonly phase: string,
      private readonly addresses: () => string[],
    ) {}

    start(writers = 8): void {
      strays.add(() => this.stop());
      this.done = Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let n = 0; !this.stopped; n++) {
            const list = this.addresses();
            const key = `acked/${this.phase}/w${w}/${n}`;
            const a = await putKv(list[(w + n) % list.length] ?? "", key, `${this.phase}-${w}-${n}`, 4000);
            if (!("error" in a) && a.status === 200 && a.text === "true") {
              acked.set(key, `${this.phase}-${w}-${n}`);
              this.ok++;
            } else {
              this.failures[label(a)] = (this.failures[label(a)] ?? 0) + 1;
              this.messages[label(a)] ??= "error" in a ? a.error : `${a.message || a.text} (from ${list[(w + n) % list.length] ?? ""})`;
              await sleep(50);
            }
          }
        }),
      ).then(() => undefined);
    }

    async stop(): Promise<void> {
      this.stopped = true;
      await this.done;
    }
  }

  /** A history recorder of 8 clients on the Consul APIs of `servers`, running until `stop()`. */
  function recorder(servers: ClusterServer[]): { stop(): Promise<KvHistory> } {
    const ctl = new AbortController();
    const h = recordKvHistory({ addresses: servers.map((s) => consul(s)), keys: LIN_KEYS, clients: 8, durationMs: 10 * 60_000, opTimeoutMs: 4000, signal: ctl.signal });
    const stop = async (): Promise<KvHistory> => {
      strays.delete(stop);
      ctl.abort();
      return h;
    };
    strays.add(stop);
    return { stop };
  }

  /**
   * The end of a server's log, for a failure's message: its last `lines` lines of the cluster
   * and state components (elections, commits), then its last few lines of any kind.
   */
  function tail(s: ClusterServer, lines = 20): string {
    const all = (s.agent?.err() ?? "").trimEnd().split("\n");
    const cluster = all.filter((l) => /"component":"(cluster|state)"/.test(l)).slice(-lines);
    return `--- ${s.name} (${http(s)}): its last ${cluster.length} cluster and state log lines:\n${cluster.join("\n")}\n--- ${s.name}: its last 5 log lines:\n${all.slice(-5).join("\n")}`;
  }

  function tails(f: ClusterFleet, lines = 15): string {
    return f.servers.map((s) => tail(s, lines)).join("\n");
  }

  /** The job's allocations, deployments and latest evaluations as the leader holds them, for a failure's message. */
  async function jobReport(f: ClusterFleet): Promise<string> {
    const get = async (path: string): Promise<unknown> => {
      for (const s of f.running()) {
        try {
          const r = await fetch(`http://${http(s)}${path}`, { signal: AbortSignal.timeout(3000) });
          if (r.ok) return await r.json();
        } catch {
          // The next server.
        }
      }
      return "no server answered";
    };
    const allocs = (await get(`/v1/job/${JOB}/allocations`)) as Alloc[] | string;
    const deployments = (await get(`/v1/job/${JOB}/deployments`)) as { ID: string; JobVersion: number; Status: string; StatusDescription: string; TaskGroups: unknown }[] | string;
    const evals = (await get(`/v1/job/${JOB}/evaluations`)) as { ID: string; Status: string; TriggeredBy: string; StatusDescription: string; CreateIndex: number }[] | string;
    const nodes = (await get(`/v1/nodes`)) as { Name: string; Status: string }[] | string;
    return [
      `nodes: ${typeof nodes === "string" ? nodes : nodes.map((n) => `${n.Name} ${n.Status}`).join(", ")}`,
      "allocations:",
      ...(typeof allocs === "string" ? [allocs] : allocs.map((a) => `  ${a.Name} ${a.ID.slice(0, 8)} v${a.JobVersion} desired=${a.DesiredStatus} client=${a.ClientStatus} node=${a.NodeID.slice(0, 8)} web=${JSON.stringify(a.TaskStates?.web === undefined ? null : { State: a.TaskStates.web.State, Restarts: a.TaskStates.web.Restarts })}`)),
      "deployments:",
      ...(typeof deployments === "string" ? [deployments] : deployments.map((d) => `  ${d.ID.slice(0, 8)} v${d.JobVersion} ${d.Status} (${d.StatusDescription}) ${JSON.stringify(d.TaskGroups)}`)),
      "evaluations (last 8):",
      ...(typeof evals === "string" ? [evals] : [...evals].sort((a, b) => a.CreateIndex - b.CreateIndex).slice(-8).map((e) => `  ${e.ID.slice(0, 8)} ${e.TriggeredBy} ${e.Status} ${e.StatusDescription}`)),
    ].join("\n");
  }

  /** Starts again every server a phase before left down (one that failed before it could). */
  async function serversUp(f: ClusterFleet): Promise<void> {
    for (const s of f.servers) if (!f.running().includes(s)) await f.startServer(s);
    await f.leader();
  }

  /** Who each running server names as leader, for a failure's message. */
  async function namedLeaders(f: ClusterFleet): Promise<string> {
    const named = await Promise.all(f.running().map(async (s) => `${s.name} names ${await leaderNamedBy(s).then((a) => f.serverAt(a)?.name ?? JSON.stringify(a), (e: unknown) => `(no answer: ${errorMessage(e)})`)}`));
    return `leaders named: ${named.join(", ")}`;
  }

  /** Fails with `what`, the figures given and the servers' logs when `ok` is false. */
  function check(f: ClusterFleet, ok: boolean, what: string): void {
    if (!ok) throw new Error(`${what}\n${tails(f)}`);
  }

  /** The leader key as etcd holds it now: who, its term (create revision), and etcd's revision. */
  async function leaderKey(): Promise<{ name: string; term: string; revision: string }> {
    const res = await (etcdClient as Etcd3).kv.range({ key: Buffer.from(LEADER_KEY) });
    const kv = res.kvs[0];
    return { name: kv === undefined ? "" : (JSON.parse(kv.value.toString("utf8")) as { Name: string }).Name, term: kv?.create_revision ?? "", revision: res.header.revision };
  }

  /** Waits until a server other than `gone` leads, as `/v1/status/leader` on `survivors` names it; the time from `since`. */
  async function newLeader(f: ClusterFleet, survivors: ClusterServer[], gone: ClusterServer, since: number, ms = 20_000): Promise<{ server: ClusterServer; ms: number }> {
    const deadline = since + ms;
    for (;;) {
      const named = await Promise.all(survivors.map((s) => leaderNamedBy(s, 500).catch(() => "")));
      const now = Date.now();
      const other = named.map((n) => f.serverAt(n)).find((s) => s !== undefined && s !== gone);
      if (other !== undefined) return { server: other, ms: now - since };
      if (now > deadline) throw new Error(`no server other than ${gone.name} leads ${ms} ms after it went (the survivors name ${JSON.stringify(named)})\n${tails(f)}`);
      await sleep(25);
    }
  }

  /**
   * For a violation whose stuck operations read a value, the operations that wrote it, with
   * their outcome and what failed them: a value read that only a write left out as "refused"
   * wrote means that write was applied though its answer said nothing was.
   */
  function writersOfStuckReads(h: KvHistory, r: CheckResult): string {
    if (r.ok || r.verdict !== "violation") return "";
    const origin = h.ops[0]?.call ?? 0;
    const lines: string[] = [];
    for (const { op } of r.stuck) {
      if (op.op.type !== "get" || op.op.result === null) continue;
      const value = op.op.result;
      const writers = h.ops.filter((o) => o.key === op.key && (o.op.type === "put" || o.op.type === "cas") && o.op.value === value);
      lines.push(`the value ${JSON.stringify(value)} read was written by: ${writers.map((w) => `${formatOp(w, origin)} (${w.outcome}${w.failure === undefined ? "" : `: ${w.failure}`})`).join("; ") || "no operation of the history"}`);
    }
    return lines.join("\n");
  }

  // --- the phases ------------------------------------------------------------------------

  describe(mode.title, () => {
    it("kill -9 of the leader during writes and a job update: a new leader within 3 s, no acknowledged write lost, no allocation placed twice or restarted, no routed request failed", async () => {
      await stopStrays();
      const f = fleet as ClusterFleet;
      const before = await f.leader();
      const survivors = f.servers.filter((s) => s !== before);
      const load = new RouterLoad(f.router.routerAddress, HOST, 50);
      const watch = new AllocWatch(f);
      const writers = new KvWriters("kill", () => f.running().map((s) => consul(s)));
      const rec = recorder(f.servers);
      load.start();
      watch.start();
      strays.add(() => load.stop());
      strays.add(() => watch.stop());
      writers.start();
      await sleep(2000);
      // The update goes to a server that stays; it rolls 2 allocations at a time.
      const update = await until("the update to be accepted", async () => {
        const r = await ruche(http(survivors[0] as ClusterServer), dir, "job", "run", "-detach", "job-2.hcl");
        return r.code === 0 ? r : undefined;
      }, 20_000);
      expect(update.code).toBe(0);
      await sleep(1000);
      const setup = (await mode.leaderKill?.before(f, before)) ?? "";
      const killedAt = Date.now();
      await before.agent?.crash();
      const next = await newLeader(f, survivors, before, killedAt);
      console.log(`[${mode.label}] kill -9: ${before.name} killed; ${next.server.name} named leader after ${next.ms} ms${setup === "" ? "" : `; ${setup}`}`);
      const afterKill = (await mode.leaderKill?.after(f, before, survivors)) ?? "";
      if (afterKill !== "") console.log(`[${mode.label}] kill -9: ${afterKill}`);
      // The history covers the failover and a few seconds under the new leader.
      await sleep(5000);
      histories.push({ phase: `kill -9 of ${before.name}`, history: await rec.stop() });
      // The one timing the cluster promises.
      expect(next.ms, `a new leader (${next.server.name}) named ${next.ms} ms after kill -9 of ${before.name}\n${tails(f)}`).toBeLessThan(3000);

      // The rollout finishes under the new leader: COUNT allocations of the new version, one per name.
      const v2 = await until(
        `${COUNT} allocations of the new version running`,
        async () => {
          const allocs = await allocations(f, false);
          const latest = Math.max(...allocs.map((a) => a.JobVersion));
          return latest > 0 && running(allocs, latest).length === COUNT && running(allocs).length === COUNT ? running(allocs, latest) : undefined;
        },
        90_000,
      ).catch(async (err: unknown) => {
        throw new Error(`${errorMessage(err)}\n${await jobReport(f)}\n${tails(f)}`);
      });
      expect(new Set(v2.map((a) => a.Name)).size).toBe(COUNT);
      await sleep(2000);
      await writers.stop();
      await watch.stop();
      await load.stop();

      const figures = `failover ${next.ms} ms (${before.name} → ${next.server.name}); writes acknowledged ${writers.ok}, failed ${JSON.stringify(writers.failures)} ${JSON.stringify(writers.messages)}; router ${JSON.stringify(load.summary())}; ${watch.samples} allocation samples`;
      console.log(`[${mode.label}] kill -9: ${figures}`);
      expect(writers.ok, figures).toBeGreaterThan(0);
      const lost = (await Promise.all(survivors.map((s) => missingOn(s)))).flat();
      check(f, lost.length === 0, `acknowledged writes lost after kill -9 of ${before.name}:\n${lost.join("\n")}\n${figures}`);
      check(f, watch.breaches.length === 0, `allocations placed twice or restarted:\n${watch.breaches.join("\n")}\n${figures}`);
      expect(watch.samples, figures).toBeGreaterThan(10);
      check(f, load.failed === 0, `requests through the router failed: ${JSON.stringify(load.summary())}\n${figures}\nrouter log:\n${f.router.err().split("\n").slice(-15).join("\n")}`);

      // Three servers for the next phase: the killed one comes back on its data dir.
      await f.startServer(before);
      await f.leader();
      const back = (await mode.leaderKill?.restarted(f, before)) ?? "";
      if (back !== "") console.log(`[${mode.label}] kill -9: ${back}`);
    }, 300_000);

    it("SIGSTOP of the leader for 10 s: another leads meanwhile; after SIGCONT the old leader steps down, names the new one, and writes nothing", async () => {
      await stopStrays();
      const f = fleet as ClusterFleet;
      await serversUp(f);
      const old = await f.leader();
      const others = f.servers.filter((s) => s !== old);
      const writers = new KvWriters("pause", () => f.running().map((s) => consul(s)));
      const rec = recorder(f.servers);
      writers.start();
      await sleep(1000);
      const oldTerm = await leaderKey();
      expect(oldTerm.name).toBe(old.name);
      const logBefore = old.agent?.err().length ?? 0;
      const pausedAt = Date.now();
      old.agent?.child.kill("SIGSTOP");
      // Another server leads while it is paused (the time is a figure: kill -9 above is the timed failover).
      const next = await newLeader(f, others, old, pausedAt, 10_000);
      console.log(`[${mode.label}] SIGSTOP: ${old.name} paused; ${next.server.name} named leader after ${next.ms} ms`);
      // Writes queued at the paused server: it meets them first thing when it goes on.
      const queued = Array.from({ length: 4 }, (_, i) => putKv(consul(old), `acked/queued/${i}`, `q${i}`, 15_000));
      await sleep(Math.max(0, pausedAt + 10_000 - Date.now()));
      await writers.stop();

      // Who writes after SIGCONT: the new leader is paused for a moment, shorter than its lease
      // (it stays leader), so that the servers able to write are the old leader, just resumed,
      // and the follower. etcd's keys modified meanwhile (any key under the region's prefix,
      // found by comparing each key's mod revision with the revision before) can then only be
      // theirs; the old leader's own liveness record (servers/NAME, members/NAME on its new
      // lease) is the one write allowed.
      const successor = next.server;
      successor.agent?.child.kill("SIGSTOP");
      await sleep(300);
      const r0 = await leaderKey();
      expect(r0.name, `the leader key before SIGCONT names ${r0.name}, not ${successor.name}`).toBe(successor.name);
      const contAt = Date.now();
      old.agent?.child.kill("SIGCONT");
      const steppedDown = await until("the old leader to say it no longer leads", () => (/no longer leads/.test(old.agent?.err().slice(logBefore) ?? "") ? Date.now() - contAt : undefined), 700).catch(() => undefined);
      const window = await (etcdClient as Etcd3).kv.range({ key: Buffer.from(PREFIX), range_end: Buffer.from(PREFIX.slice(0, -1) + "0") });
      successor.agent?.child.kill("SIGCONT");
      const windowMs = Date.now() - contAt;
      const atR1 = window.kvs.map((kv) => ({ key: kv.key.toString("utf8"), mod: kv.mod_revision, create: kv.create_revision }));
      const written = atR1.filter((k) => BigInt(k.mod) > BigInt(r0.revision));
      const allowed = new Set([`${PREFIX}servers/${old.name}`, `${PREFIX}members/${old.name}`]);
      const leaderAtR1 = atR1.find((k) => k.key === LEADER_KEY);
      const figures = `old leader ${old.name} (term ${oldTerm.term}), new ${successor.name} (term ${r0.term}); audit window ${windowMs} ms from SIGCONT, etcd revision ${r0.revision} → ${window.header.revision}; step-down logged ${steppedDown === undefined ? "not within the window" : `${steppedDown} ms after SIGCONT`}; keys written in the window: ${JSON.stringify(written.map((k) => k.key))}`;
      console.log(`[${mode.label}] SIGSTOP: ${figures}`);
      check(f, leaderAtR1?.create === r0.term, `the leader key changed during the audit window (the new leader's lease ended?): ${JSON.stringify(leaderAtR1)}\n${figures}`);
      const foreign = written.filter((k) => !allowed.has(k.key));
      check(f, foreign.length === 0, `keys written to etcd after SIGCONT while only ${old.name} (deposed) and the follower could write: ${foreign.map((k) => `${k.key}@${k.mod}`).join(", ")}\n${figures}`);
      // No key deleted either (a delete leaves no mod revision behind): the same keys as before, but the old leader's record.
      const atR0 = await (etcdClient as Etcd3).kv.range({ key: Buffer.from(PREFIX), range_end: Buffer.from(PREFIX.slice(0, -1) + "0"), revision: r0.revision });
      const gone = atR0.kvs.map((kv) => kv.key.toString("utf8")).filter((k) => !allowed.has(k) && !atR1.some((x) => x.key === k));
      check(f, gone.length === 0, `keys deleted from etcd after SIGCONT while only ${old.name} (deposed) and the follower could write: ${gone.join(", ")}\n${figures}`);

      // It says so, and names the new leader.
      await until("the old leader to log that it no longer leads", () => (/no longer leads/.test(old.agent?.err().slice(logBefore) ?? "") ? true : undefined), 5000).catch(() => {
        throw new Error(`${old.name} did not log that it no longer leads within 5 s of SIGCONT\n${tail(old, 40)}`);
      });
      const names = await until("the old leader to name the new one", async () => ((await leaderNamedBy(old)) === http(successor) ? true : undefined), 5000).catch(async () => {
        throw new Error(`${old.name}'s /v1/status/leader answers ${JSON.stringify(await leaderNamedBy(old).catch((e: unknown) => errorMessage(e)))}, not ${http(successor)}, 5 s after SIGCONT\n${tail(old, 40)}`);
      });
      expect(names).toBe(true);
      const stepDown = /.*no longer leads.*/.exec(old.agent?.err().slice(logBefore) ?? "")?.[0] ?? "";
      console.log(`[${mode.label}] SIGSTOP: ${old.name} logged: ${stepDown}`);

      // Writes go on through every server, the resumed one too.
      const after = new KvWriters("resumed", () => f.running().map((s) => consul(s)));
      after.start();
      await sleep(3000);
      await after.stop();
      histories.push({ phase: `SIGSTOP of ${old.name}`, history: await rec.stop() });
      const q = await Promise.all(queued);
      for (const [i, a] of q.entries()) if (!("error" in a) && a.status === 200 && a.text === "true") acked.set(`acked/queued/${i}`, `q${i}`);
      console.log(`[${mode.label}] SIGSTOP: writes during the pause ${writers.ok} ok, failed ${JSON.stringify(writers.failures)}; after ${after.ok} ok, failed ${JSON.stringify(after.failures)}; queued at the paused leader: ${q.map(label).join(", ")}`);
      check(f, after.ok > 0 && Object.keys(after.failures).length === 0, `writes after SIGCONT: ${after.ok} ok, failed ${JSON.stringify(after.failures)}: ${JSON.stringify(after.messages)}; ${await namedLeaders(f)}`);
      const lost = (await Promise.all(f.servers.map((s) => missingOn(s)))).flat();
      check(f, lost.length === 0, `acknowledged writes lost around the pause:\n${lost.join("\n")}`);
    }, 180_000);

    it("etcd: one member killed, then the etcd leader: writes go on; quorum lost: writes answer 503 RUCHE_NO_LEADER saying why, stale reads answer; quorum back: writes succeed, nothing acknowledged lost", async () => {
      await stopStrays();
      const f = fleet as ClusterFleet;
      await serversUp(f);
      await mode.allMembersUp(f);
      const members = mode.members(f);
      const allocsBefore = running(await allocations(f, false));
      const writers = new KvWriters("etcd", () => f.running().map((s) => consul(s)));
      writers.start();
      const note = (what: string): void => {
        console.log(`[${mode.label}] etcd: ${what}`);
      };

      /** Every server takes a write within `ms`; how long each took. */
      const writesGoOn = async (what: string, ms: number): Promise<void> => {
        const took = await Promise.all(
          f.servers.map(async (s) => {
            const t = Date.now();
            let last: Answer | undefined;
            for (let i = 0; Date.now() - t < ms; i++) {
              last = await putKv(consul(s), `acked/etcd/${what.replace(/\W+/g, "-")}/${s.name}/${i}`, "x", 5000);
              if (!("error" in last) && last.status === 200 && last.text === "true") {
                acked.set(`acked/etcd/${what.replace(/\W+/g, "-")}/${s.name}/${i}`, "x");
                return Date.now() - t;
              }
              await sleep(200);
            }
            throw new Error(`${what}: ${s.name} took no write within ${ms} ms (last: ${last === undefined ? "none" : label(last)} ${last !== undefined && "message" in last ? last.message : ""}); ${await namedLeaders(f)}; etcd leader key: ${JSON.stringify(await leaderKey().catch((e: unknown) => errorMessage(e)))}\n${tails(f)}`);
          }),
        );
        note(`${what}: a write on each server after ${took.join("/")} ms`);
      };

      // 1. One member (not the leader) killed, then back.
      const lead0 = await etcdLeaderOf(members);
      const follower = members.find((m) => m !== lead0) as EtcdMember;
      follower.kill("SIGKILL");
      await writesGoOn(`etcd member ${follower.name} killed`, 15_000);
      note(await mode.memberBack(f, follower));

      // 2. The etcd leader killed: the two others elect one.
      const lead1 = await etcdLeaderOf(members);
      lead1.kill("SIGKILL");
      await writesGoOn(`etcd leader ${lead1.name} killed`, 15_000);

      // 3. Quorum lost: one member of three left answering.
      const lostAt = Date.now();
      const quorum = await mode.loseQuorum(f, lead1);
      note(`no quorum: ${quorum.what}`);
      const refusals = await Promise.all(
        f.servers.map(async (s) => {
          const deadline = Date.now() + 20_000;
          let last: Answer | undefined;
          for (let i = 0; Date.now() < deadline; i++) {
            last = await putKv(consul(s), `noquorum/${s.name}/${i}`, "x", 15_000);
            if (!("error" in last) && last.status === 200 && last.text === "true") acked.set(`noquorum/${s.name}/${i}`, "x");
            if (!("error" in last) && last.status === 503 && last.code === "RUCHE_NO_LEADER") return { s, a: last, after: Date.now() - lostAt };
            await sleep(200);
          }
          throw new Error(`no quorum: ${s.name}'s writes did not answer 503 RUCHE_NO_LEADER within 20 s (last: ${last === undefined ? "none" : `${label(last)} ${"text" in last ? last.text : ""}`}); ${await namedLeaders(f)}\n${tails(f)}`);
        }),
      );
      for (const r of refusals) {
        note(`no quorum: ${r.s.name} answered 503 RUCHE_NO_LEADER ${r.after} ms after the loss, in ${r.a.ms} ms: ${"message" in r.a ? r.a.message : ""}`);
        expect("message" in r.a ? r.a.message : "", `${r.s.name}'s 503 says why`).toMatch(/etcd|quorum|leader|leads/i);
        // Answered, not left hanging.
        expect(r.a.ms, `${r.s.name}'s refusal took ${r.a.ms} ms`).toBeLessThan(10_000);
      }
      // Stale reads still answer, from each server's memory, with what was acknowledged.
      for (const s of f.servers) {
        const tree = await kvTree(s, "acked/", true);
        const lost = [...acked].filter(([k, v]) => k.startsWith("acked/") && tree.get(k) !== v);
        check(f, lost.length === 0, `no quorum: ${s.name}'s ?stale read misses ${lost.length} acknowledged writes, e.g. ${lost.slice(0, 3).map(([k]) => k).join(", ")}`);
      }
      await writers.stop();

      // 4. Quorum back.
      const backAt = Date.now();
      await quorum.restore();
      await mode.allMembersUp(f);
      note(`quorum back ${Date.now() - backAt} ms after the members were brought back`);
      await writesGoOn("quorum back", 30_000);
      note(`background writes ${writers.ok} ok, failed ${JSON.stringify(writers.failures)} ${JSON.stringify(writers.messages)}`);
      const lost = (await Promise.all(f.servers.map((s) => missingOn(s)))).flat();
      check(f, lost.length === 0, `acknowledged writes lost across the etcd faults:\n${lost.join("\n")}`);
      // Nothing corrupted: every server holds the same keys, and the job still runs the same allocations.
      const trees = await Promise.all(f.servers.map((s) => kvTree(s, "", false)));
      const first = JSON.stringify([...(trees[0] ?? new Map<string, string>())].sort());
      for (const [i, t] of trees.entries()) check(f, JSON.stringify([...t].sort()) === first, `${f.servers[i]?.name ?? i} holds other KV keys than ${f.servers[0]?.name ?? ""} after the etcd faults`);
      const allocsAfter = await until(`${COUNT} running allocations`, async () => {
        const r = running(await allocations(f, false));
        return r.length === COUNT ? r : undefined;
      }, 60_000);
      expect(allocsAfter.map((a) => a.ID).sort(), "the same allocations run after the etcd faults").toEqual(allocsBefore.map((a) => a.ID).sort());
      for (const a of allocsAfter) expect(a.TaskStates?.web?.StartedAt, `${a.Name} was not restarted`).toBe(allocsBefore.find((b) => b.ID === a.ID)?.TaskStates?.web?.StartedAt);
    }, 240_000);

    it("the KV histories recorded by 8 clients across the kill -9 and the SIGSTOP are linearizable", () => {
      expect(histories.length, "the phases before recorded their histories").toBe(2);
      for (const { phase, history: h } of histories) {
        const r = checkKvHistory(h.ops, { initial: h.initial });
        console.log(`[${mode.label}] history ${phase}: ${h.ops.length} operations, ${JSON.stringify(h.stats)}: ${describeCheck(r)}`);
        expect(h.stats.ok, `${phase}: answered operations`).toBeGreaterThan(100);
        expect(r.ok, `${phase} (seed ${h.seed}): ${describeCheck(r)}${r.ok ? "" : `\n${writersOfStuckReads(h, r)}`}`).toBe(true);
      }
    }, 120_000);
  });
}
