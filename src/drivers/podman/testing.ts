/**
 * Test support for the podman driver (not used by Ruche itself): a podman API service of the
 * tests' own (`podman system service --time=0 unix://<tmp>/podman.sock`), started once per
 * test process and stopped when it exits, and the tests' busybox image in podman's storage
 * (test/images/build-busybox.sh with ENGINE=podman; no registry). A process started by a test
 * (the stand-in agent of the contract test) finds the same service through
 * `RUCHE_TEST_PODMAN_SOCKET`. Without podman the tests fail saying what is missing.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Where a test process's podman service is said to its children. */
export const PODMAN_SOCKET_VAR = "RUCHE_TEST_PODMAN_SOCKET";
/** The tests' image, as podman names it once imported (test/images/build-busybox.sh). */
export const PODMAN_TEST_IMAGE = "localhost/ruche-test/busybox:latest";

const ROOT = resolve(fileURLToPath(new URL("../../../", import.meta.url)));
const BUILD = join(ROOT, "test/images/build-busybox.sh");

function ping(socketPath: string): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ socketPath, path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => {
      done(false);
    });
    req.end();
  });
}

/** A hard limit of this process (`/proc/self/limits`), or undefined when unlimited or unknown. */
function hardLimit(name: string): number | undefined {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  return hard === undefined || !/^\d+$/.test(hard) ? undefined : Number(hard);
}

let service: Promise<string> | undefined;
let stopService: (() => void) | undefined;

/**
 * The watch: runs the service, and stops it when the test process ($1) is gone or the watch
 * is told to stop (SIGTERM), then removes the service's dir ($3).
 */
const WATCH = `podman system service --time=0 "$2" & svc=$!
trap 'kill $svc 2>/dev/null' TERM
while kill -0 "$1" 2>/dev/null && kill -0 $svc 2>/dev/null; do sleep 1; done
kill $svc 2>/dev/null; wait $svc; rm -rf "$3"`;

/** Stops this process's podman service, if it started one (a test file's afterAll). */
export function stopPodmanTestService(): void {
  stopService?.();
}

/**
 * The socket of this test process's podman service, started at the first call (or the
 * parent test's, when this process was started by one).
 *
 * podman gives a root container open files and processes limits of 1048576 and 4194304 by
 * default, which a root without CAP_SYS_RESOURCE (a container, as CI machines often are)
 * cannot grant, and then every container fails with "error setting rlimit ... operation not
 * permitted". The service is given a containers.conf whose `default_ulimits` stay within this
 * process's own.
 */
export function podmanTestService(): Promise<string> {
  service ??= startService();
  return service;
}

async function startService(): Promise<string> {
  const inherited = process.env[PODMAN_SOCKET_VAR];
  if (inherited !== undefined && (await ping(inherited))) return inherited;
  const which = spawnSync("podman", ["--version"], { encoding: "utf8" });
  if (which.error !== undefined || which.status !== 0) {
    throw new Error(`podman is missing, so the podman driver cannot be tested: install Debian's podman (sh scripts/test-deps.sh tools)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "ruche-test-podman-"));
  const socketPath = join(dir, "podman.sock");
  const nofile = Math.min(hardLimit("Max open files") ?? 1_048_576, 1_048_576);
  const nproc = Math.min(hardLimit("Max processes") ?? 32_768, 32_768);
  writeFileSync(join(dir, "containers.conf"), `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]\n`);
  // Under a watch that stops the service (and removes its dir) once this process is gone,
  // however it ends: a test process may be killed without running its exit handlers.
  const child = spawn("sh", ["-c", WATCH, "sh", String(process.pid), `unix://${socketPath}`, dir], {
    env: { ...process.env, CONTAINERS_CONF: join(dir, "containers.conf") },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  stopService = stop;
  process.once("exit", stop);
  const until = Date.now() + 20_000;
  while (!(await ping(socketPath))) {
    if (child.exitCode !== null || Date.now() > until) {
      stop();
      throw new Error(`podman system service did not answer on ${socketPath}: ${err.trim() || "no word from it"}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.env[PODMAN_SOCKET_VAR] = socketPath;
  ensurePodmanTestImage();
  return socketPath;
}

/** Builds the tests' image in podman's storage unless it is there from the same build script. */
export function ensurePodmanTestImage(): void {
  // The script's version: the cksum of its own text (read on stdin, so without a file name).
  const want = execFileSync("sh", ["-c", 'cksum <"$1" | cut -d" " -f1', "sh", BUILD], { encoding: "utf8" }).trim();
  const have = spawnSync("podman", ["image", "inspect", "--format", '{{index .Labels "ruche.test.image-version"}}', PODMAN_TEST_IMAGE], { encoding: "utf8" });
  if (have.status === 0 && have.stdout.trim() === want) return;
  const r = spawnSync("sh", [BUILD, PODMAN_TEST_IMAGE], { env: { ...process.env, ENGINE: "podman" }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`could not build ${PODMAN_TEST_IMAGE} with podman (test/images/build-busybox.sh): ${r.stderr.trim()}`);
}
