/**
 * The README's tour, run as a newcomer would paste it: each line of the block between
 * `<!-- tour:start -->` and `<!-- tour:end -->`, in order, through `sh -c`, from the
 * repository's directory. A line ending in `&` starts something that runs on (an agent):
 * the next line waits until it says it started. A line must exit 0, or the code its
 * comment gives ("# exits 1: ..."). The dev agent takes the fixed ports of a fresh machine.
 * Then the block between `<!-- cluster-tour:start -->` and `<!-- cluster-tour:end -->`
 * (three servers), once the tour's agents are stopped; there, lines ending in `&` one after
 * the other start together and are waited for together (each server waits for the others).
 * Then the production block (ACL tokens, TLS, join tokens), and the two-region block (between
 * `<!-- regions-tour:start -->` and `<!-- regions-tour:end -->`: a server and two docker
 * clients per region, the demoapp run in both through europe's server). Every line starts from
 * what the earlier lines exported, as in one terminal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { docker, root, srvTarget, until } from "./harness.js";

interface Line {
  command: string;
  background: boolean;
  exitCode: number;
}

/** The tour's command lines, with what each is expected to do. */
function tourLines(block = "tour"): Line[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const m = new RegExp(`<!-- ${block}:start -->\n\`\`\`sh\n([\\s\\S]*?)\`\`\`\n<!-- ${block}:end -->`).exec(readme);
  if (m?.[1] === undefined) throw new Error(`README.md has no block between <!-- ${block}:start --> and <!-- ${block}:end -->`);
  return m[1]
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((raw) => {
      // A comment starts at a `#` after whitespace, outside quotes (the tour keeps `#` out of quotes).
      const hash = raw.search(/\s#\s/);
      const command = (hash < 0 ? raw : raw.slice(0, hash)).trim();
      const comment = hash < 0 ? "" : raw.slice(hash);
      const code = /exits (\d+)/.exec(comment)?.[1];
      return { command: command.replace(/&$/, "").trim(), background: command.endsWith("&"), exitCode: code === undefined ? 0 : Number(code) };
    });
}

const background: ChildProcess[] = [];

/** What the lines `export`ed so far, as `export -p` writes it: each line starts from it, as in one terminal. */
const exported = join(mkdtempSync(join(tmpdir(), "ruche-readme-")), "exported.sh");

function sh(command: string, detached: boolean): ChildProcess {
  // A line runs after what the earlier ones exported; a line that runs to its end leaves what it exports for the next.
  const script = detached ? `[ -f ${exported} ] && . ${exported}; exec ${command}` : `[ -f ${exported} ] && . ${exported}; ${command}\nrc=$?; export -p > ${exported}; exit $rc`;
  return spawn("/bin/sh", ["-c", script], { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached, env: { ...process.env, CI: "true" } });
}

/** Runs a line to its end; its exit code and output. */
function runLine(command: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = sh(command, false);
    let out = "";
    let err = "";
    p.stdout?.setEncoding("utf8").on("data", (c: string) => (out += c));
    p.stderr?.setEncoding("utf8").on("data", (c: string) => (err += c));
    p.once("error", reject);
    p.once("close", (code) => {
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** Stops every background command (SIGTERM to its group, SIGKILL after its grace period). */
async function stopBackground(): Promise<void> {
  for (const p of background) {
    try {
      if (p.pid !== undefined) process.kill(-p.pid, "SIGTERM");
    } catch {
      // Gone already.
    }
  }
  // Each group has its grace period to end on SIGTERM; what is left after it is killed.
  const groupAlive = (pid: number): boolean => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until("the tour's background commands to end on SIGTERM", () => (background.every((p) => p.pid === undefined || !groupAlive(p.pid)) ? true : undefined), 15_000).catch(() => undefined);
  for (const p of background) {
    try {
      if (p.pid !== undefined) process.kill(-p.pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  background.splice(0);
}

afterAll(async () => {
  await stopBackground();
  rmSync("/tmp/ruche-tour", { recursive: true, force: true });
  rmSync("/tmp/ruche-cluster", { recursive: true, force: true });
  rmSync("/tmp/ruche-prod", { recursive: true, force: true });
  rmSync("/tmp/ruche-regions", { recursive: true, force: true });
  rmSync(dirname(exported), { recursive: true, force: true });
  rmSync("/tmp/demoapp-v2.hcl", { force: true });
  rmSync("/tmp/demoapp-ha.hcl", { force: true });
  rmSync("/tmp/demoapp-us.hcl", { force: true });
  // The cluster's client is not a dev agent: its tasks outlive it, as they should. The test
  // removes them, or they would stay on the engine after the run.
  // The production block's nodes likewise leave its demoapp's, and the two regions' clients theirs.
  const left = (await Promise.all(["demoapp-ha", "demoapp"].map((job) => docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`)))).join("\n").split("\n").filter((id) => id !== "");
  if (left.length > 0) await docker("rm", "-f", ...left);
}, 30_000);

/** Starts a background line; resolves once it says its agent started. */
function startBackground(command: string): () => Promise<void> {
  const p = sh(command, true);
  background.push(p);
  let out = "";
  let err = "";
  p.stdout?.setEncoding("utf8").on("data", (c: string) => (out += c));
  p.stderr?.setEncoding("utf8").on("data", (c: string) => (err += c));
  return async () => {
    // An agent that exits instead is reported at once, with what it said.
    const exited = await until(`"${command}" to start`, () => (p.exitCode !== null ? "exited" : out.includes("==> Ruche agent started") ? "started" : undefined), 180_000);
    if (exited === "exited") throw new Error(`"${command}" exited ${p.exitCode ?? ""}\n${out}\n${err}`);
  };
}

/** Runs a block's lines in order; the outputs of those that ran to their end, by command. With `together`, consecutive background lines start at once. */
async function runBlock(lines: Line[], together: boolean): Promise<Map<string, string>> {
  const outputs = new Map<string, string>();
  let starting: (() => Promise<void>)[] = [];
  const settle = async (): Promise<void> => {
    for (const wait of starting.splice(0)) await wait();
  };
  for (const line of lines) {
    if (line.background) {
      starting.push(startBackground(line.command));
      if (!together) await settle();
      continue;
    }
    await settle();
    const r = await runLine(line.command);
    expect(r.code, `"${line.command}" exited ${r.code}\nstdout:\n${r.out}\nstderr:\n${r.err}`).toBe(line.exitCode);
    outputs.set(line.command, r.out);
  }
  await settle();
  starting = [];
  return outputs;
}

describe("the README tour", () => {
  it("runs line by line as written", async () => {
    // No registry here: the local test image stands in for the reference job's httpd.
    await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
    rmSync("/tmp/ruche-tour", { recursive: true, force: true });
    const lines = tourLines();
    expect(lines.length).toBeGreaterThan(10);
    const outputs = await runBlock(lines, false);
    // What the tour says the reader sees.
    const find = (start: string): string[] => [...outputs.entries()].filter(([c]) => c.startsWith(start)).map(([, o]) => o);
    expect(find("npx ruche status demoapp")[0]).toMatch(/webs +0 +0 +2 +0 +0 +0/);
    expect(find("npx ruche job plan")[0]).toContain('+/- Task Group: "webs" (1 canary, 2 ignore)');
    expect(find("npx ruche job run /tmp/demoapp-v2.hcl")[0]).toMatch(/waiting for promotion/);
    expect(find("npx ruche job promote")[0]).toMatch(/Deployment "[0-9a-f]{8}" successful/);
    expect(find("npx ruche kv get")[0]).toBe("bonjour\n");
    expect(find("curl -fsS 'http://127.0.0.1:8500/v1/kv/")[0]).toBe("bonjour");
    expect(find("dig")[0]?.trim().split("\n")).toHaveLength(2);
  }, 600_000);

  it("three servers, as the README shows them", async () => {
    await stopBackground();
    await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
    rmSync("/tmp/ruche-cluster", { recursive: true, force: true });
    rmSync(exported, { force: true });
    const outputs = await runBlock(tourLines("cluster-tour"), true);
    const find = (start: string): string => [...outputs.entries()].find(([c]) => c.startsWith(start))?.[1] ?? "";
    const members = find("npx ruche server members");
    expect(members.match(/ alive /g), members).toHaveLength(3);
    expect(members.match(/ true /g), members).toHaveLength(1);
    expect(find("npx ruche operator etcd list").match(/ true +true /g)).toHaveLength(1);
    expect(find("curl -fsS --cacert")).toBe("bonjour");
    expect(find("npx ruche status -address 127.0.0.1:5646 demoapp-ha")).toMatch(/webs +0 +0 +2 +0 +0 +0/);
  }, 600_000);

  it("production: ACL tokens, TLS, nodes that join, as the README shows them", async () => {
    await stopBackground();
    rmSync(exported, { force: true });
    rmSync("/tmp/ruche-prod", { recursive: true, force: true });
    await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
    const outputs = await runBlock(tourLines("production"), false);
    const find = (start: string): string => [...outputs.entries()].find(([c]) => c.startsWith(start))?.[1] ?? "";
    expect(find("curl -sS -o /dev/null")).toBe("403\n");
    expect(find("npx ruche node status").match(/ ready/g)).toHaveLength(2);
    expect(find("npx ruche job run")).toMatch(/Deployment "[0-9a-f]{8}" successful/);
    expect(find("curl -fsS --cacert")).toBe("bonjour");
  }, 600_000);

  it("two regions, as the README shows them", async () => {
    await stopBackground();
    rmSync(exported, { force: true });
    rmSync("/tmp/ruche-regions", { recursive: true, force: true });
    await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
    const outputs = await runBlock(tourLines("regions-tour"), false);
    const find = (start: string): string => [...outputs.entries()].find(([c]) => c.startsWith(start))?.[1] ?? "";
    const members = find("npx ruche server members");
    expect(members, members).toMatch(/^eu-server\.europe +127\.0\.0\.1 +6646 +alive +true .*europe-west1 +europe$/m);
    expect(members, members).toMatch(/^us-server\.us +127\.0\.0\.1 +7646 +alive +(true|false) .*us-west-2 +us$/m);
    const usNodes = find("npx ruche node status -region us");
    expect(usNodes.match(/ us-west-2 +us-web-[12] .* ready$/gm), usNodes).toHaveLength(2);
    expect(find("npx ruche job run examples/demoapp.hcl")).toMatch(/Deployment "[0-9a-f]{8}" successful/);
    expect(find("npx ruche job run /tmp/demoapp-us.hcl")).toMatch(/Deployment "[0-9a-f]{8}" successful/);
    const status = find("npx ruche status -region us demoapp");
    expect(status).toMatch(/^Datacenters += us-west-2$/m);
    expect(status).toMatch(/webs +0 +0 +2 +0 +0 +0/);
    // us's two instances, on us's clients, as us's datacenter lists them.
    const instances = JSON.parse(find("curl -fsS 'http://127.0.0.1:6500/v1/catalog/service/")) as { Node: string; Datacenter: string; ServiceAddress: string; ServicePort: number }[];
    expect(instances.map((i) => [i.Node, i.Datacenter]).sort()).toEqual([["us-web-1", "us-west-2"], ["us-web-2", "us-west-2"]]);
    expect(find("dig").trim().split("\n").sort()).toEqual(instances.map((i) => `1 1 ${i.ServicePort} ${srvTarget(i.Node, i.ServiceAddress, "us-west-2")}`).sort());
    expect(find("curl -fsS -X PUT")).toBe("true");
    expect(find("curl -fsS 'http://127.0.0.1:7500/v1/kv/")).toBe("bonjour");
    expect(find("curl -sS -o /dev/null")).toBe("404\n");
  }, 600_000);
});
