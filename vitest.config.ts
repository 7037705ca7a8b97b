import { configDefaults, defineConfig } from "vitest/config";

/**
 * The test files that need more than Node and this repository: root (the exec driver's
 * namespaces and cgroups, and the shim that runs its tasks), a Docker engine, etcd, or the
 * end-to-end set (the agent as a process, the built CLI and dashboard, Docker, Chromium,
 * curl and dig). `npm test` brings those up (scripts/test-deps.sh) and runs every project;
 * `npm run test:unit` runs the `unit` project alone, anywhere.
 */
const SYSTEM = [
  "src/drivers/driver.contract.test.ts", // root and Docker: every driver, exec and docker included
  "src/drivers/docker/docker.test.ts", // Docker
  "src/drivers/docker/engine-loss.test.ts", // Docker, behind a socket proxy the test stops
  "src/drivers/docker/logs.test.ts", // Docker
  "src/drivers/docker/task-limits.test.ts", // Docker
  "src/drivers/docker/network.test.ts", // Docker: bridge groups' pause containers
  "src/drivers/containerd/containerd.test.ts", // root and containerd (the Docker engine's): the containerd driver's options
  "src/client/settle-network.test.ts", // Docker: a stopped bridge allocation's pause container removed
  "src/client/cni/cni-plugins.test.ts", // root and Debian's containernetworking-plugins: CNI networks of allocations
  "src/drivers/exec/exec.test.ts", // root: namespaces and cgroups
  "src/drivers/exec/cgroup.test.ts", // root: the host's cgroup hierarchy
  "src/drivers/java/java.test.ts", // root and a JDK: JVMs isolated as exec tasks
  "src/drivers/shared/shim.test.ts", // root: tasks of the exec driver under the shim
  "src/state/full-disk.test.ts", // root: mounts a small tmpfs to fill up and turn read-only
  "src/state/data-dir.test.ts", // root: reads the data dir as user nobody, and hands a dir to nobody
  "src/state/etcd-testing.test.ts", // etcd: three members of Debian's etcd-server
  "src/state/backend.contract.test.ts", // etcd: a member of Debian's etcd-server, beside memory and SQLite
  "src/state/etcd.test.ts", // etcd: a member of Debian's etcd-server
  "src/state/etcd-watch.test.ts", // etcd: a member of Debian's etcd-server, behind a TCP proxy the test cuts
  "src/catalog/lock-delays.test.ts", // etcd: a member of Debian's etcd-server, two servers' stores on it
  "src/catalog/events-etcd.test.ts", // etcd: a member of Debian's etcd-server, two servers' stores on it
  "src/agent/etcd-member.test.ts", // etcd: servers' own members, bootstrapped through their join listeners
  "src/agent/etcd-failover.test.ts", // etcd: three members, one down under a server's client, and etcd's leader moved off the Ruche leader's
  "src/server/cluster-etcd.test.ts", // etcd: a member of Debian's etcd-server, the election on it
  "test/e2e/**/*.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...SYSTEM] } },
      { extends: true, test: { name: "system", include: SYSTEM } },
    ],
  },
});
