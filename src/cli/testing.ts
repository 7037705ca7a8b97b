/**
 * Test support for the CLI's tests (not used by Ruche itself): a real server in this process
 * (the state store on its memory backend, the server's workers, the HTTP API on port 0 of
 * 127.0.0.1), simulated nodes (mock driver, nothing runs), and when asked a real node agent
 * of this process (`Client` with the mock driver) whose allocations the API serves as an
 * agent serves its own — logs, exec, signal, restart, checks, stats — and whose node
 * `/v1/agent/self` names (`-self`). The CLI runs in-process through `runCli`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inProcessTransport } from "../agent/index.js";
import { startApi, type NodeLocal, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport, type AllocStub } from "../apiclient/index.js";
import { KVService, LockDelays, StoreCatalog } from "../catalog/index.js";
import { Client, readLogs, SimulatedNode, type SimOptions } from "../client/index.js";
import { MockDriver } from "../drivers/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ErrorCode, RucheError, silentLogger } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

export interface CliCluster {
  store: StateStore;
  server: Server;
  http: RunningHttp;
  api: ApiClient;
  /** The working directory commands run in; `files` were written there. */
  dir: string;
  /** The node agent of this process, when asked for (its node is `-self`). */
  client: Client | undefined;
  /** Runs a command line in-process against the API; `answers` are what a terminal would answer, in turn. */
  ruche(argv: readonly string[], answers?: readonly string[]): Promise<{ code: number; out: string; err: string }>;
  /** The job's allocations once there are at least `n`, by blocking queries. */
  allocations(job: string, n: number, ok?: (a: AllocStub) => boolean): Promise<AllocStub[]>;
  close(): Promise<void>;
}

export interface CliClusterOptions {
  /** The temp dir's prefix: `ruche-<name>-`. */
  name: string;
  /** Simulated nodes. */
  sims?: readonly NonNullable<ConstructorParameters<typeof SimulatedNode>[1]>[];
  /** How the simulated nodes behave (when they report health). */
  simOptions?: SimOptions;
  /** A real node agent in this process (mock driver). */
  local?: boolean;
  /** Files written in the working directory, by name. */
  files?: Readonly<Record<string, string>>;
}

export async function cliCluster(o: CliClusterOptions): Promise<CliCluster> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  server.start();
  const dir = mkdtempSync(join(tmpdir(), `ruche-${o.name}-`));
  for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), text);
  let client: Client | undefined;
  const runner = (id: string): NonNullable<ReturnType<Client["runner"]>> => {
    const r = client?.runner(id);
    if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
    return r;
  };
  const local: NodeLocal = {
    has: (id) => client?.runner(id) !== undefined,
    tasks: (id) => client?.runner(id)?.taskNames() ?? [],
    logs: (id, task, stream, opts) => readLogs(runner(id).logDir, task, stream, opts),
    exec: (id, task, cmd, opts) => runner(id).exec(task, cmd, opts),
    signal: (id, task, sig) => runner(id).signal(task, sig),
    restart: (id, task) => runner(id).restart(task),
    checks: (id) => runner(id).checkStatuses(),
    stats: (id, task) => runner(id).stats(task),
  };
  const http = await startApi(server, store, {
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    ...(o.local === true ? { local } : {}),
    consul: { catalog: new StoreCatalog(store, "dc1", silentLogger), localNode: () => client?.nodeId, version: "1.17.0", kv: new KVService(store, { now: Date.now, delays: new LockDelays() }) },
  });
  const api = new ApiClient(http.address);
  const sims: SimulatedNode[] = [];
  for (const n of o.sims ?? []) {
    const s = new SimulatedNode(httpTransport(api), n, o.simOptions);
    await s.start();
    sims.push(s);
  }
  if (o.local === true) {
    client = new Client(inProcessTransport(server), {
      dataDir: join(dir, "node"),
      name: "local",
      datacenter: "dc1",
      nodeClass: "",
      nodePool: "default",
      meta: {},
      ip: "127.0.0.1",
      httpAddr: "",
      minDynamicPort: 20000,
      maxDynamicPort: 32000,
      reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" },
      drivers: [new MockDriver()],
      log: silentLogger,
    });
    await client.start();
  }
  return {
    store,
    server,
    http,
    api,
    dir,
    client,
    async ruche(argv, answers = []) {
      let out = "";
      let err = "";
      const queue = [...answers];
      const io: IO = {
        out: (t) => (out += t),
        err: (t) => (err += t),
        env: { RUCHE_ADDR: http.address },
        cwd: dir,
        ...(answers.length === 0 ? {} : { ask: (q: string) => Promise.resolve((out += `${q} `, queue.shift() ?? "")) }),
      };
      const code = await runCli(argv, io);
      return { code, out, err };
    },
    async allocations(job, n, ok = () => true) {
      let index = 0;
      for (;;) {
        const r = await api.jobAllocations(job, { index, wait: "5s" });
        const good = r.body.filter(ok);
        if (good.length >= n) return good;
        index = r.index;
      }
    },
    async close() {
      await client?.stop({ stopTasks: true });
      await Promise.all(sims.map((s) => s.kill()));
      await http.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Asks `f` every 50 ms until it gives something (not undefined or false); fails naming `what` after `timeoutMs`. */
export async function eventually<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
