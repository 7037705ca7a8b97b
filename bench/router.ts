/**
 * Edge router benchmark. Side by side in one run, with wrk as the load (50 connections,
 * keep-alive) and the same fast backend (nginx answering a small fixed body): Ruche's
 * router, nginx and HAProxy as reverse proxies in front of it, and the backend alone.
 * Requests/s and p50/p99 latency, medians of several runs after a warm-up run each,
 * interleaved so that the machine's load falls on each alike. The router runs one worker
 * per core (`-router-workers`), from the build (dist/), as users run it. Then the time
 * from an instance turning healthy in the catalog to its first routed request (in
 * process: the real store and catalog).
 * Prints JSON keyed by proxy name.
 *
 *   npm run bench:router                         (installs wrk, nginx, haproxy when missing: scripts/bench-deps.sh)
 *   npm run bench:router -- --runs 1 --seconds 5
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { ServiceRegistry, StoreCatalog, type CatalogReader, type ServiceInstance } from "../src/catalog/index.js";
import { DEFAULT_ROUTER_CONFIG, startRouter } from "../src/router/index.js";
import type * as RouterModule from "../src/router/index.js";
import { sqliteBackend, StateStore } from "../src/state/index.js";
import { freePort } from "./child.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("--runs", 3);
const SECONDS = arg("--seconds", 8);
const CONNECTIONS = 50;
const HOST = "bench.ruche.test";
const PATH_DIRS = ["/usr/sbin", "/sbin", "/usr/bin"];
process.env.PATH = `${process.env.PATH ?? ""}:${PATH_DIRS.join(":")}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function waitFor(port: number, host = HOST): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await request(`http://127.0.0.1:${port}/`, { headers: { host } });
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`nothing answers 200 on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  child.once("exit", (code, sig) => {
    if (code !== 0 && sig === null) process.stderr.write(`${cmd} exited ${code ?? "?"}: ${err}\n`);
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
}

/** nginx with its own configuration in `dir`: `body` inside `http {}`. */
function nginx(dir: string, name: string, workers: number, body: string): ChildProcess {
  const conf = join(dir, `${name}.conf`);
  writeFileSync(
    conf,
    `daemon off; master_process on; worker_processes ${workers}; pid ${join(dir, `${name}.pid`)}; error_log ${join(dir, `${name}.err`)} warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${body} }
`,
  );
  return run("nginx", ["-c", conf, "-p", dir, "-e", join(dir, `${name}.err`)]);
}

function haproxy(dir: string, port: number, backend: number, threads: number): ChildProcess {
  const conf = join(dir, "haproxy.cfg");
  writeFileSync(
    conf,
    `global
  nbthread ${threads}
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${backend}
`,
  );
  return run("haproxy", ["-f", conf, "-db"]);
}

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : n;
}

async function wrk(port: number, seconds = SECONDS): Promise<Load> {
  const child = spawn("wrk", ["-t2", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "-H", `Host: ${HOST}`, `http://127.0.0.1:${port}/`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  await new Promise((r) => child.once("exit", r));
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? "0");
  const lat = (pct: string): number => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)$`, "m").exec(out);
    return m === null ? 0 : ms(m[1] ?? "0", m[2] ?? "ms");
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  if (errors !== undefined) throw new Error(`wrk saw ${errors} non-2xx answers:\n${out}`);
  return { rps, p50Ms: lat("50"), p99Ms: lat("99") };
}

/** A catalog that holds one service forever: the proxy's speed, not the catalog's, is measured. */
function fixedCatalog(port: number): CatalogReader {
  const node = { ID: "n", Node: "bench", Address: "127.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  const inst: ServiceInstance = { ID: "backend-1", Service: "bench", Tags: [`traefik.frontend.rule=Host:${HOST}`], Address: "127.0.0.1", Port: port, Meta: {}, node, checks: [], CreateIndex: 1, ModifyIndex: 1 };
  return {
    index: () => 1,
    datacenter: () => "dc1",
    instances: (s) => (s === "bench" ? [inst] : []),
    services: () => ({ bench: inst.Tags }),
    nodes: () => [node],
    wait: (minIndex, _timeout, signal) =>
      minIndex < 1
        ? Promise.resolve(1)
        : new Promise((resolve) => {
            signal?.addEventListener("abort", () => {
              resolve(1);
            });
          }),
  };
}

/**
 * The router process: `--router-child PORT BACKEND WORKERS`. It runs the router from the
 * build (dist/), the code users run, not the sources through the TypeScript loader.
 */
async function routerChild(): Promise<void> {
  const i = process.argv.indexOf("--router-child");
  const [port, backend, workers] = process.argv.slice(i + 1, i + 4).map(Number);
  const built = (await import(new URL("../dist/router/index.js", import.meta.url).href)) as typeof RouterModule;
  const r = await built.startRouter({ catalog: fixedCatalog(backend ?? 0), config: { ...built.DEFAULT_ROUTER_CONFIG, accessLog: false, allowLoopbackBackends: true }, host: "127.0.0.1", port: port ?? 0, dashboardPort: -1, workers: workers ?? 1 });
  process.stdout.write(`ready ${r.address}\n`);
  process.once("SIGTERM", () => {
    void r.close().then(() => process.exit(0));
  });
}

/** Time from an instance registered passing to the first request the router sends it, with a client knocking all along. */
async function healthyToFirstRequest(samples: number): Promise<{ medianMs: number; maxMs: number; samples: number }> {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-router-"));
  const store = await StateStore.open(sqliteBackend(dir));
  const registry = new ServiceRegistry(store, Date.now);
  const router = await startRouter({ catalog: new StoreCatalog(store, "dc1"), config: { ...DEFAULT_ROUTER_CONFIG, accessLog: false, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: -1 });
  let firstHit = 0;
  const backend: Server = createHttpServer((_req, res) => {
    if (firstHit === 0) firstHit = performance.now();
    res.end("ok");
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const port = (backend.address() as AddressInfo).port;
  const out: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const name = `svc-${i}`;
      firstHit = 0;
      let knocking = true;
      const knock = (async () => {
        while (knocking) {
          const r = await request(`http://${router.address}/`, { headers: { host: name } });
          await r.body.dump();
          if (r.statusCode === 200) return;
        }
      })();
      await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      await registry.register({ ID: name, Name: name, Tags: [`traefik.frontend.rule=Host:${name}`], Address: "127.0.0.1", Port: port, Meta: {}, NodeID: "n1", Checks: [], CreateIndex: 0, ModifyIndex: 0 });
      const guard = setTimeout(() => (knocking = false), 5000);
      await knock;
      clearTimeout(guard);
      knocking = false;
      out.push(firstHit - t0);
    }
  } finally {
    await router.close();
    await new Promise((r) => backend.close(r));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { medianMs: Math.round(median(out) * 100) / 100, maxMs: Math.round(Math.max(...out) * 100) / 100, samples: out.length };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-router-"));
  const cores = availableParallelism();
  const procs: ChildProcess[] = [];
  try {
    const backendPort = await freePort();
    procs.push(nginx(dir, "backend", 1, `server { listen 127.0.0.1:${backendPort} backlog=4096; keepalive_requests 1000000; location / { default_type text/plain; return 200 "hello from the backend\\n"; } }`));
    await waitFor(backendPort);

    const nginxPort = await freePort();
    procs.push(
      nginx(
        dir,
        "proxy",
        cores,
        `upstream be { server 127.0.0.1:${backendPort}; keepalive 128; }
server { listen 127.0.0.1:${nginxPort} backlog=4096; keepalive_requests 1000000; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; } }`,
      ),
    );
    const haproxyPort = await freePort();
    procs.push(haproxy(dir, haproxyPort, backendPort, cores));
    const ruchePort = await freePort();
    const ruche = spawn(process.execPath, ["--import", "tsx", "bench/router.ts", "--router-child", String(ruchePort), String(backendPort), String(cores)], { stdio: ["ignore", "pipe", "inherit"] });
    procs.push(ruche);
    await Promise.all([waitFor(nginxPort), waitFor(haproxyPort), waitFor(ruchePort)]);

    const targets: Record<string, number> = { ruche: ruchePort, nginx: nginxPort, haproxy: haproxyPort, "backend-direct": backendPort };
    const results: Record<string, Load[]> = {};
    // A first short run each, not counted: connections opened, code compiled.
    for (const port of Object.values(targets)) await wrk(port, 2);
    for (let i = 0; i < RUNS; i++) {
      for (const [name, port] of Object.entries(targets)) {
        (results[name] ??= []).push(await wrk(port));
      }
    }
    const summary: Record<string, Load & { runs: Load[] }> = {};
    for (const [name, runs] of Object.entries(results)) {
      summary[name] = { rps: Math.round(median(runs.map((r) => r.rps))), p50Ms: median(runs.map((r) => r.p50Ms)), p99Ms: median(runs.map((r) => r.p99Ms)), runs };
    }
    for (const p of procs) await stop(p);
    procs.length = 0;
    const healthy = await healthyToFirstRequest(20);
    const r = summary.ruche;
    const n = summary.nginx;
    process.stdout.write(
      `${JSON.stringify(
        {
          machine: { cores, connections: CONNECTIONS, seconds: SECONDS, runs: RUNS, rucheWorkers: cores },
          ...summary,
          ratios: r !== undefined && n !== undefined ? { rpsVsNginx: Math.round((r.rps / n.rps) * 100) / 100, p99VsNginx: Math.round((r.p99Ms / n.p99Ms) * 100) / 100 } : {},
          healthyToFirstRequest: healthy,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    for (const p of procs) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--router-child")) await routerChild();
else await main();
