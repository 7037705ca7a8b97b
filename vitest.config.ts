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

/**
 * The system files that do not share the machine: they run one at a time, after the others
 * (which run two at a time, each worker with its own host ports: `testPorts`).
 */
const ALONE = [
  "test/e2e/readme-tour.test.ts", // the README's commands as written: the default ports (4646, 8500, 8600, 8080, 2379) and fixed /tmp paths
  "test/e2e/chaos.test.ts", // three minutes of kills, pauses and a cut-off Docker engine under load: the heaviest file
  "test/e2e/cluster.test.ts", // a new leader named within 3 s of a kill -9
  "test/e2e/cluster-managed.test.ts", // the same, with the servers' own etcd members
  "test/e2e/client-reconnect.test.ts", // a 2 s heartbeat TTL, and not one failed request through the router
  "test/e2e/podman.test.ts", // builds podman's test image when it is missing, as the driver contract does
  "src/server/cluster-etcd.test.ts", // an election's longest pause under 3 s
  "src/catalog/events-etcd.test.ts", // an event across two servers within 5 s
  "src/drivers/docker/docker.test.ts", // the duration of Docker operations
  "src/drivers/driver.contract.test.ts", // containerd's test namespace and podman's test image, shared with the files below
  "src/drivers/containerd/containerd.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...SYSTEM], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "system", include: SYSTEM, exclude: [...configDefaults.exclude, ...ALONE], maxWorkers: 2, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: "system-alone", include: ALONE, maxWorkers: 1, sequence: { groupOrder: 2 } } },
    ],
  },
});
