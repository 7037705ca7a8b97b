/**
 * Test support for the containerd driver (not used by Ruche itself): the containerd the tests
 * use, and the tests' image imported into their own namespace from the Docker engine, without
 * a registry.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONTAINERD_SOCKETS } from "./ctr.js";

/** The namespace the tests' containers run in (not the agent's "nomad"). */
export const TEST_NAMESPACE = "ruche-test";

/** The tests' image (test/images/build-busybox.sh, in the Docker engine), as containerd names it once imported. */
export const TEST_IMAGE = "ruche-test/busybox:latest";

/** The containerd the tests use: CONTAINERD_ADDRESS, one of the usual sockets, or the one the tests' Docker engine runs (scripts/test-deps.sh). */
export function testContainerdAddress(): string {
  const env = process.env.CONTAINERD_ADDRESS;
  if (env !== undefined && env !== "") return env;
  const candidates = [...CONTAINERD_SOCKETS, "/run/ruche-test-docker/containerd/containerd.sock"];
  return candidates.find((s) => existsSync(s)) ?? (candidates[0] as string);
}

const imported = new Set<string>();

/** Imports TEST_IMAGE from the Docker engine (`docker save`) into `namespace`, once per process and namespace. */
export function importTestImage(namespace = TEST_NAMESPACE, address = testContainerdAddress()): void {
  if (imported.has(namespace)) return;
  const ctr = ["--address", address, "--namespace", namespace];
  let have: string;
  try {
    have = execFileSync("ctr", [...ctr, "images", "ls", "-q"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    throw new Error(
      e.code === "ENOENT"
        ? "ctr, containerd's client, is missing: install Debian's package containerd (scripts/test-deps.sh, component tools)"
        : `containerd does not answer at ${address} (start the Docker engine with scripts/test-deps.sh, or set CONTAINERD_ADDRESS): ${String(e.stderr ?? err).trim()}`,
      { cause: err },
    );
  }
  if (!have.split("\n").includes(`docker.io/${TEST_IMAGE}`)) {
    const dir = mkdtempSync(join(tmpdir(), "ruche-containerd-image-"));
    try {
      const tar = join(dir, "image.tar");
      execFileSync("docker", ["save", "-o", tar, TEST_IMAGE], { stdio: "ignore" });
      execFileSync("ctr", [...ctr, "images", "import", tar], { stdio: "ignore" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  imported.add(namespace);
}
