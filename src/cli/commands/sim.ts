import { fleetOpenFiles, openFilesLimit, SimFleet, type FleetStatus } from "../../client/index.js";
import { flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, requestTokenOf, wholeNumber } from "../api.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche sim -nodes N [-servers ADDR,...] [-datacenter DC] [-name-prefix PREFIX]
                 [-connections N] [-token SECRET]

  Runs N simulated nodes in this process, for trying and measuring the control plane
  without machines: each registers with the servers, heartbeats at the TTL they give,
  follows its allocations with one blocking query, and "runs" what is placed on it at once
  (the mock driver), reporting it running; a job for them uses any driver they list
  (docker, exec, raw_exec, mock). Every node fails over between the servers as a client
  agent does. A status line is printed every 10 seconds; SIGINT or SIGTERM stops the
  nodes, which the servers then mark down once their heartbeats are overdue.

  The nodes cost the servers what as many machines would: their registrations and
  allocation updates share -connections keep-alive connections per server (default 64),
  their heartbeats as many more; each node's blocking query holds a connection of its own,
  as a real node's does. So the process holds about N + 128 connections per server open
  (and each server as many): past the open files limit (ulimit -n) it refuses to start and says what to raise.
  Servers on loopback see the nodes' connections from addresses spread over 127.0.0.0/8
  (90 per address, under -http-max-conns-per-client's default 100); other servers need
  -http-max-conns-per-client 0 for a fleet in one process. A -dev agent registers no node of
  another process (its -sim-nodes N runs simulated nodes in it); servers with ACLs on and TLS
  off register the nodes given -token with node:write.

Options:
  -nodes N            how many nodes to simulate
  -servers ADDR,...   the servers' HTTP API, host:port (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -datacenter DC      the nodes' datacenter (default dc1)
  -name-prefix PREFIX the nodes are named PREFIX-0, PREFIX-1, ... (default sim)
  -connections N      shared connections per server, for reports and for heartbeats each (default 64)
  -token SECRET       the ACL token the nodes register with: servers with ACLs on and TLS off
                      register a node only with node:write (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)
`;

/** How often the status line is printed (ms). */
export const STATUS_EVERY_MS = 10_000;

export interface SimRun {
  servers: string[];
  nodes: number;
  datacenter: string;
  namePrefix: string;
  connections: number;
  /** The ACL token the nodes send; none when absent. */
  token?: string;
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { nodes: { value: true }, servers: { value: true, repeat: true }, datacenter: { value: true }, "name-prefix": { value: true }, connections: { value: true }, token: { value: true } });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0] ?? ""}"`);
  const nodesFlag = flagValues(p, "nodes").at(-1);
  if (nodesFlag === undefined) throw new UsageError("-nodes N is required");
  const nodes = wholeNumber(nodesFlag, "-nodes");
  if (nodes < 1) throw new UsageError("-nodes must be at least 1");
  const given = flagValues(p, "servers").flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  const servers = given.length > 0 ? given : [io.env.RUCHE_ADDR ?? DEFAULT_ADDRESS];
  for (const s of servers) if (!/^(https?:\/\/)?[^\s/]+:\d+\/?$/.test(s)) throw new UsageError(`-servers takes host:port, got "${s}"`);
  const connections = wholeNumber(flagValues(p, "connections").at(-1) ?? "64", "-connections");
  if (connections < 1) throw new UsageError("-connections must be at least 1");
  const datacenter = flagValues(p, "datacenter").at(-1) ?? "dc1";
  const namePrefix = flagValues(p, "name-prefix").at(-1) ?? "sim";
  if (datacenter === "" || namePrefix === "") throw new UsageError("-datacenter and -name-prefix must not be empty");

  const stop = new AbortController();
  const onSignal = (): void => {
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const token = requestTokenOf(p, io);
    await runSim({ servers, nodes, datacenter, namePrefix, connections, ...(token === undefined ? {} : { token }) }, io, stop.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return Exit.Ok;
}

/**
 * Runs the fleet until `signal` aborts, printing a status line every `statusEveryMs`.
 * Refuses to start when the fleet's connections would not fit under the open files limit.
 */
export async function runSim(o: SimRun, io: IO, signal: AbortSignal, statusEveryMs = STATUS_EVERY_MS): Promise<void> {
  const need = fleetOpenFiles(o.nodes, o.servers.length, o.connections);
  const limit = openFilesLimit();
  if (limit !== undefined && need > limit.soft) {
    const how = need <= limit.hard ? `raise it in the shell that starts ruche sim: ulimit -n ${need} (the hard limit is ${limit.hard})` : `the hard limit is ${limit.hard}: run the nodes in several processes of at most ${Math.max(1, limit.hard - o.servers.length * o.connections - 200)} each`;
    throw new CommandError(`${o.nodes} simulated nodes need about ${need} open files (one connection each for their allocation watches, 2 × ${o.connections} per server shared), over this process's limit of ${limit.soft}; ${how}`);
  }
  const fleet = new SimFleet({ servers: o.servers, nodes: o.nodes, datacenter: o.datacenter, namePrefix: o.namePrefix, connections: o.connections, ...(o.token === undefined ? {} : { token: o.token }) });
  io.out(`==> Simulating ${o.nodes} nodes (${o.namePrefix}-0 … ${o.namePrefix}-${o.nodes - 1}) in datacenter ${o.datacenter} against ${o.servers.join(", ")}\n`);
  const started = Date.now();
  const line = (): void => {
    io.out(statusLine(fleet.status(), Date.now() - started));
  };
  const timer = setInterval(line, statusEveryMs);
  try {
    await fleet.start(signal);
    if (!signal.aborted) io.out(`==> ${fleet.status().registered} nodes registered in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    if (!signal.aborted) {
      await new Promise<void>((done) => {
        signal.addEventListener("abort", () => {
          done();
        }, { once: true });
      });
    }
    io.out("==> Caught signal: stopping the simulated nodes\n");
  } finally {
    clearInterval(timer);
    await fleet.stop();
  }
}

function statusLine(s: FleetStatus, elapsedMs: number): string {
  const errors = Object.entries(s.errors)
    .map(([code, n]) => `${code} ×${n}`)
    .join(", ");
  return `    ${Math.round(elapsedMs / 1000)}s: ${s.registered} nodes registered, ${s.ready} ready, ${s.running} allocations running${errors === "" ? "" : `; failed calls: ${errors}`}\n`;
}
