import { randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startApi, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/sim.js";
import { Server, type Logger } from "../server/index.js";
import { sqliteBackend, StateStore } from "../state/index.js";

export interface AgentConfig {
  dev: boolean;
  /** Where the state lives; a temporary directory in dev mode when not given. */
  dataDir: string | undefined;
  bind: string;
  httpPort: number;
  /** Simulated nodes that "run" tasks at once (mock driver), until a real client joins. */
  simNodes: number;
  /** Datacenter of the simulated nodes. */
  datacenter: string;
  logLevel: string;
}

export interface RunningAgent {
  address: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Wires one agent: the state store on its backend, the server's duties, the HTTP API, and simulated nodes if asked. */
export async function startAgent(cfg: AgentConfig, out: (line: string) => void): Promise<RunningAgent> {
  const root = pino({ level: cfg.logLevel }, pino.destination(2));
  const log = (component: string): Logger => root.child({ component });
  const dataDir = cfg.dataDir ?? (await mkdtemp(join(tmpdir(), "ruche-dev-")));
  const store = await StateStore.open(sqliteBackend(dataDir));
  const server = new Server(store, { log: log("server") });
  server.start();
  let api: RunningHttp;
  try {
    api = await startApi(server, store, { host: cfg.bind, port: cfg.httpPort });
  } catch (err) {
    await server.stop();
    await store.close();
    throw err;
  }
  const sims: SimulatedNode[] = [];
  const transport = httpTransport(new ApiClient(api.address));
  for (let i = 0; i < cfg.simNodes; i++) {
    const sim = new SimulatedNode(transport, { name: `sim-${i}`, id: randomUUID(), datacenter: cfg.datacenter });
    await sim.start();
    sims.push(sim);
  }
  out(`==> Ruche agent started${cfg.dev ? " in dev mode" : ""}\n`);
  out(`    API:      http://${api.address}\n`);
  out(`    Data dir: ${dataDir}\n`);
  if (cfg.simNodes > 0) out(`    Nodes:    ${cfg.simNodes} simulated (mock driver) in datacenter ${cfg.datacenter}\n`);
  return {
    address: api.address,
    dataDir,
    stop: async () => {
      await Promise.all(sims.map((s) => s.kill()));
      await api.close();
      await server.stop();
      await store.close();
    },
  };
}
