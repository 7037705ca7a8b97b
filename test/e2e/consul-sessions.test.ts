/**
 * Consul's locks, sessions and blocking queries as the clients people use drive them, against
 * a dev agent: python-consul and python-consul2 (Debian's python3-consul and python3-consul2,
 * each sending its bodies in lower case) and the `consul` npm client. A lock holder that
 * crashes loses its lock when its session's TTL passes and a follower takes it; a session
 * bound to a check ends when the check fails; a watch on one key does not answer for writes
 * to other keys; a missing key's 404 carries X-Consul-Index.
 */
import { spawn } from "node:child_process";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root, startAgentProcess, until, type AgentProcess } from "./harness.js";
import { PYTHON_CONSUL_LIBS, runPython, startPython } from "./python-consul.js";

let agent: AgentProcess;
let host = "";
let port = "";

beforeAll(async () => {
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
  [host, port] = agent.consulAddress.split(":") as [string, string];
  // The dev agent's own node is in the catalog, with its serfHealth passing: sessions go on it.
  await until("the agent's node in the catalog", async () => {
    const r = await fetch(`http://${agent.consulAddress}/v1/catalog/nodes`);
    return ((await r.json()) as unknown[]).length > 0 ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await agent.stop();
});

/** Takes a lock with a 10 s session and holds it without renewing, until it is killed. */
const HOLDER = `
c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
sid = c.session.create(name="holder", ttl=10, lock_delay=0, behavior="release")
if not c.kv.put(sys.argv[3], "holder", acquire=sid):
    sys.exit("the holder could not take the lock")
print(sid, flush=True)
import time
time.sleep(600)
`;

/** Waits for the lock with blocking reads, takes it when it is free; prints how long it waited. */
const FOLLOWER = `
import json, time
c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
key = sys.argv[3]
sid = c.session.create(name="follower", ttl=30, lock_delay=0)
start = time.time()
index = None
while True:
    index, data = c.kv.get(key, index=index, wait="5s")
    if (data is None or not data.get("Session")) and c.kv.put(key, "follower", acquire=sid):
        break
    if time.time() - start > 60:
        sys.exit("the follower never got the lock")
print(json.dumps({"took": time.time() - start, "mine": c.kv.get(key)[1]["Session"] == sid}))
`;

/** A session bound to a service's TTL check: failing the check (`/v1/agent/check/update`, lower-case body) ends the session and frees the lock. */
const BOUND = `
import json, time, requests
c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
svc, key = sys.argv[3], sys.argv[4]
c.agent.service.register(svc, service_id=svc, port=9000, check=consul.Check.ttl("30s"))
check = "service:" + svc
# The check's status set with Consul's update endpoint and a lower-case body (python-consul 0.7.1's
# ttl_pass sends a GET, which Consul has refused since 1.0).
def update(status):
    r = requests.put("http://%s:%s/v1/agent/check/update/%s" % (sys.argv[1], sys.argv[2], check), json={"status": status, "output": status})
    if r.status_code != 200:
        sys.exit("check update: %d %s" % (r.status_code, r.text))
update("passing")
refused = {}
for name, kwargs in [("node", {"node": "no-such-node"}), ("check", {"checks": ["serfHealth", "no-such-check"]})]:
    try:
        c.session.create(**kwargs)
        refused[name] = None
    except consul.ConsulException as e:
        refused[name] = str(e)
sid = c.session.create(name="bound", lock_delay=0, checks=["serfHealth", check])
info = c.session.info(sid)[1]
if not c.kv.put(key, "bound", acquire=sid):
    sys.exit("could not take the lock")
update("critical")
start = time.time()
index, data = c.kv.get(key)
while data.get("Session"):
    index, data = c.kv.get(key, index=index, wait="5s")
    if time.time() - start > 20:
        sys.exit("the lock was never released")
print(json.dumps({"released": time.time() - start, "session": c.session.info(sid)[1], "checks": info["NodeChecks"], "refused": refused}))
`;

/** One blocking read of a key, while the test writes other keys; and a missing key's index. */
const WATCH = `
import json, time
c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
key = sys.argv[3]
index, _ = c.kv.get(key)
missing_index, missing = c.kv.get(key + "/not-there")
print("ready", flush=True)
start = time.time()
after, _ = c.kv.get(key, index=index, wait="4s")
print(json.dumps({"index": index, "after": after, "waited": time.time() - start, "missing": missing, "missingIndex": missing_index}))
`;

describe.each(PYTHON_CONSUL_LIBS)("%s", (lib) => {
  it("a crashed lock holder's lock goes to the follower once its session's TTL passes", async () => {
    const key = `locks/${lib}`;
    const holder = startPython(lib, HOLDER, [host, port, key]);
    try {
      await until(`${lib}'s holder to take the lock`, () => (/^[0-9a-f-]{36}\n/.test(holder.out()) ? true : holder.child.exitCode !== null ? Promise.reject(new Error(holder.err())) : undefined), 20_000);
    } finally {
      // The crash: no renewal, no release, no destroy.
      holder.child.kill("SIGKILL");
    }
    const follower = JSON.parse(await runPython(lib, FOLLOWER, [host, port, key], 60_000)) as { took: number; mine: boolean };
    expect(follower.mine).toBe(true);
    // TTL 10 s and lock-delay 0, both sent in lower case: read, the follower has it within the TTL and a sweep.
    // (Ignored, there would be no TTL, or 15 s of default lock-delay after it.)
    expect(follower.took).toBeLessThan(20);
  }, 90_000);

  it("a session bound to a check ends when the check fails; sessions on unknown nodes or checks are refused", async () => {
    const out = JSON.parse(await runPython(lib, BOUND, [host, port, `bound-${lib.replace(/\W/g, "")}`, `bound/${lib}`])) as { released: number; session: unknown; checks: string[]; refused: Record<string, string | null> };
    expect(out.checks).toEqual(["serfHealth", `service:bound-${lib.replace(/\W/g, "")}`]);
    expect(out.released).toBeLessThan(5);
    expect(out.session).toBeNull();
    expect(out.refused.node).toMatch(/500 Missing node registration/);
    expect(out.refused.check).toMatch(/500 Missing check 'no-such-check' registration/);
  }, 60_000);

  it("a blocking read of one key does not answer for writes to others; a missing key answers with X-Consul-Index", async () => {
    const key = `watched/${lib}`;
    const consul = new Consul({ host, port: Number(port) });
    await consul.kv.set(key, "v");
    const watch = startPython(lib, WATCH, [host, port, key]);
    await until("the watch to start", () => (watch.out().startsWith("ready\n") ? true : watch.child.exitCode !== null ? Promise.reject(new Error(watch.err())) : undefined), 20_000);
    for (let i = 0; i < 8; i++) await consul.kv.set(`unrelated/${lib}/${i}`, String(i));
    const done = await until("the watch to end", () => (watch.child.exitCode !== null ? watch.out() : undefined), 20_000);
    const r = JSON.parse(done.split("\n")[1] ?? "") as { index: string; after: string; waited: number; missing: null; missingIndex: string };
    expect(r.after).toBe(r.index);
    expect(r.waited).toBeGreaterThan(3.5);
    expect(r.missing).toBeNull();
    expect(Number(r.missingIndex)).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

/** A lock holder written with the consul npm client: a 10 s session, the lock taken, then no renewal until it is killed. */
const NPM_HOLDER = `
const Consul = require("consul");
const [host, port, key] = process.argv.slice(1);
const consul = new Consul({ host, port: Number(port) });
(async () => {
  const s = await consul.session.create({ name: "npm-holder", ttl: "10s", lockdelay: "0s" });
  if (!(await consul.kv.set({ key, value: "holder", acquire: s.ID }))) throw new Error("the holder could not take the lock");
  console.log(s.ID);
  setInterval(() => undefined, 1000);
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe("the consul npm client", () => {
  it("a crashed holder's lock goes to the follower once the session's TTL passes", async () => {
    const consul = new Consul({ host, port: Number(port) });
    const key = "locks/npm";
    const holder = spawn(process.execPath, ["-e", NPM_HOLDER, host, port, key], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    holder.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    holder.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    try {
      await until("the npm holder to take the lock", () => (/^[0-9a-f-]{36}\n/.test(out) ? true : holder.exitCode !== null ? Promise.reject(new Error(err)) : undefined), 20_000);
    } finally {
      holder.kill("SIGKILL");
    }
    const crashed = Date.now();
    const mine = await consul.session.create({ name: "npm-follower", ttl: "30s", lockdelay: "0s" });
    const taken = await until(
      "the follower to take the lock",
      async () => {
        const e = (await consul.kv.get(key)) as { Session?: string } | undefined;
        if (e?.Session !== undefined && e.Session !== "") return undefined;
        return (await consul.kv.set({ key, value: "follower", acquire: mine.ID })) ? Date.now() : undefined;
      },
      40_000,
    );
    expect(taken - crashed).toBeLessThan(20_000);
    await consul.session.destroy(mine.ID);
  }, 60_000);


  it("a key watch answers once for eight writes to other keys, then for its key's change", async () => {
    const consul = new Consul({ host, port: Number(port) });
    await consul.kv.set("npm/watched", "one");
    const seen: string[] = [];
    // The client calls the method on itself, as its documentation shows.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const w = consul.watch({ method: consul.kv.get, options: { key: "npm/watched" }, backoffFactor: 10 });
    w.on("change", (data: { Value?: string } | undefined) => seen.push(data?.Value ?? ""));
    w.on("error", () => undefined);
    try {
      await until("the first answer", () => (seen.length > 0 ? true : undefined), 10_000);
      for (let i = 0; i < 8; i++) await consul.kv.set(`npm/other/${i}`, String(i));
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toEqual(["one"]);
      await consul.kv.set("npm/watched", "two");
      await until("the change", () => (seen.includes("two") ? true : undefined), 10_000);
      expect(seen).toEqual(["one", "two"]);
    } finally {
      w.end();
    }
  });

  it("a health watch on one service does not answer when another registers; a 404 carries X-Consul-Index", async () => {
    const consul = new Consul({ host, port: Number(port) });
    await consul.agent.service.register({ name: "npm-web", id: "npm-web-1", port: 7001 } as never);
    const lengths: number[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const w = consul.watch({ method: consul.health.service, options: { service: "npm-web" }, backoffFactor: 10 });
    w.on("change", (data: unknown[]) => lengths.push(data.length));
    w.on("error", () => undefined);
    try {
      await until("the first answer", () => (lengths.length > 0 ? true : undefined), 10_000);
      await consul.agent.service.register({ name: "npm-db", id: "npm-db-1", port: 7002 } as never);
      await consul.agent.service.register({ name: "npm-cache", id: "npm-cache-1", port: 7003 } as never);
      await new Promise((r) => setTimeout(r, 500));
      expect(lengths).toEqual([1]);
      await consul.agent.service.register({ name: "npm-web", id: "npm-web-2", port: 7004 } as never);
      await until("the second instance", () => (lengths.at(-1) === 2 ? true : undefined), 10_000);
    } finally {
      w.end();
    }
    const missing = await fetch(`http://${agent.consulAddress}/v1/kv/npm/not-there`);
    expect(missing.status).toBe(404);
    expect(Number(missing.headers.get("x-consul-index"))).toBeGreaterThanOrEqual(1);
  });
});
