import { startAgent } from "../../agent/agent.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche agent [-dev] [-data-dir DIR] [-bind ADDR] [-http-port PORT] [-sim-nodes N] [-datacenter DC]

  Runs a Ruche agent: the server (state, scheduler, deployments, node lifecycle) and its
  HTTP API. With -dev: bound to 127.0.0.1, state in a temporary directory unless
  -data-dir is given. -sim-nodes N adds N simulated nodes that run tasks at once (the
  mock driver), for trying the control plane without machines, in datacenter DC
  (default dc1).
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, {
    dev: { value: false },
    "data-dir": { value: true },
    bind: { value: true },
    "http-port": { value: true },
    "sim-nodes": { value: true },
    datacenter: { value: true },
    "log-level": { value: true },
  });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0] ?? ""}"`);
  const dev = flagBool(p, "dev");
  const one = (name: string): string | undefined => flagValues(p, name).at(-1);
  const port = Number(one("http-port") ?? "4646");
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`-http-port must be a port number, got "${one("http-port") ?? ""}"`);
  const sim = Number(one("sim-nodes") ?? "0");
  if (!Number.isInteger(sim) || sim < 0 || sim > 10_000) throw new UsageError(`-sim-nodes must be a whole number up to 10000, got "${one("sim-nodes") ?? ""}"`);
  if (!dev && one("data-dir") === undefined) throw new UsageError("a server outside -dev needs -data-dir");
  const agent = await startAgent(
    { dev, dataDir: one("data-dir"), bind: one("bind") ?? (dev ? "127.0.0.1" : "0.0.0.0"), httpPort: port, simNodes: sim, datacenter: one("datacenter") ?? "dc1", logLevel: one("log-level") ?? "warn" },
    (l) => {
      io.out(l);
    },
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  io.out("==> Caught signal: shutting down\n");
  await agent.stop();
  return Exit.Ok;
}
