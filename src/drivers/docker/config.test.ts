/**
 * The pure half of the docker driver: reading a task's config and turning a task into the
 * container we ask the engine for. No engine needed; docker.test.ts checks the engine
 * does what these options say.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { TaskSpec } from "../driver.js";
import { readConfig, type DockerTaskConfig } from "./config.js";
import { containerName, createOptions, exitResult, Label } from "./container.js";
import { PAUSE_LABEL, pauseContainerName, pauseCreateOptions } from "./network.js";
import { DockerError } from "./errors.js";
import { DEFAULT_PIDS_LIMIT } from "../shared/index.js";

const allow = { allowPrivileged: false, volumesEnabled: true };

function config(raw: Record<string, unknown>): DockerTaskConfig {
  const r = readConfig(raw, allow);
  if (!r.ok) throw new Error(r.problems.join("; "));
  return r.config;
}

function spec(over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    id: "a1b2/web",
    allocId: "a1b2",
    taskName: "web",
    jobId: "shop",
    jobName: "Shop",
    parentJobId: "",
    group: "frontend",
    namespace: "default",
    nodeId: "5e3c1b0a-0000-4000-8000-000000000001",
    nodeName: "worker-1",
    config: {},
    env: { PORT: "8080" },
    user: "",
    cpu: 500,
    memoryMB: 256,
    ports: [],
    allocDir: "/var/ruche/alloc/a1b2",
    taskDir: "/var/ruche/alloc/a1b2/web",
    stdoutPath: "/var/ruche/alloc/a1b2/alloc/logs/web.stdout.0",
    stderrPath: "/var/ruche/alloc/a1b2/alloc/logs/web.stderr.0",
    logLimits: { maxFiles: 10, maxFileBytes: 10 * 1024 * 1024 },
    ...over,
  };
}

describe("readConfig", () => {
  it("accepts Nomad's keys", () => {
    const c = config({
      image: "redis:7",
      command: "redis-server",
      args: ["--port", "6379"],
      entrypoint: ["/bin/sh", "-c"],
      ports: ["db"],
      labels: { team: "data" },
      volumes: ["data:/data", "/etc/ssl:/etc/ssl:ro"],
      work_dir: "/srv",
      hostname: "db1",
      network_mode: "bridge",
      privileged: false,
      force_pull: true,
    });
    expect(c).toEqual({
      image: "redis:7",
      command: "redis-server",
      args: ["--port", "6379"],
      entrypoint: ["/bin/sh", "-c"],
      ports: ["db"],
      labels: { team: "data" },
      volumes: [
        { host: "data", container: "/data", options: "" },
        { host: "/etc/ssl", container: "/etc/ssl", options: "ro" },
      ],
      workDir: "/srv",
      hostname: "db1",
      networkMode: "bridge",
      privileged: false,
      forcePull: true,
    });
  });

  it("names the key in every problem", () => {
    const r = readConfig({ image: "", args: ["ok", 3], labels: { a: 1 }, volumes: ["nocolon", "x:relative"], work_dir: "srv", force_pull: "yes", port_mapp: {} }, allow);
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems).toEqual([
      "config.port_mapp is not an option of the docker driver",
      'config.image must be a non-empty string (the image to run, as in "redis:7")',
      "config.args[1] must be a string",
      "config.labels.a must be a string",
      'config.volumes[0] must be "host_path:container_path" or "host_path:container_path:ro", got "nocolon"',
      'config.volumes[1] must name an absolute container path, got "relative"',
      'config.work_dir must be an absolute path inside the container, got "srv"',
      "config.force_pull must be true or false",
    ]);
  });

  it("requires the image", () => {
    expect(readConfig({}, allow)).toEqual({ ok: false, problems: ['config.image must be a non-empty string (the image to run, as in "redis:7")'] });
  });

  it("refuses privileged unless the node allows it", () => {
    expect(readConfig({ image: "x", privileged: true }, allow)).toEqual({
      ok: false,
      problems: ['config.privileged is not allowed on this node: a privileged container is root on the host; plugin "docker" { config { allow_privileged = true } } in the agent config (-docker-allow-privileged) allows it'],
    });
    expect(readConfig({ image: "x", privileged: true }, { allowPrivileged: true, volumesEnabled: false }).ok).toBe(true);
  });

  it("refuses what would give a task the host, unless the node allows it: the host's root, network, any other escape", () => {
    const closed = { allowPrivileged: false, volumesEnabled: false };
    const problems = (raw: Record<string, unknown>, o = closed): string[] => {
      const r = readConfig({ image: "x", ...raw }, o);
      return r.ok ? [] : r.problems;
    };
    expect(problems({ volumes: ["/:/host"] })).toEqual([
      'config.volumes[0] mounts the host path "/", and this node does not allow host volumes: start its agent with -docker-volumes (Nomad\'s docker plugin volumes { enabled = true }), or use a path relative to the task\'s directory',
    ]);
    expect(problems({ volumes: ["/var/run/docker.sock:/var/run/docker.sock"] })).toHaveLength(1);
    expect(problems({ network_mode: "host" })).toEqual([
      'config.network_mode = "host" is not allowed on this node: it shares the host\'s network, the services it serves on 127.0.0.1 included; plugin "docker" { config { allow_privileged = true } } in the agent config (-docker-allow-privileged) allows it',
    ]);
    expect(problems({ network_mode: "container:db-1234" })[0]).toMatch(/^config.network_mode = "container:db-1234" is not allowed on this node: it shares another container's network/);
    expect(problems({ network_mode: "bridge" })).toEqual([]);
    expect(problems({ network_mode: "host", privileged: true }, { allowPrivileged: true, volumesEnabled: false })).toEqual([]);
    // Options of Nomad's driver that Ruche's does not have are refused by name, whatever the node allows: none is passed on to the engine.
    for (const key of ["container_exists_attempts", "volume_driver"]) {
      expect(problems({ [key]: "x" }, { allowPrivileged: true, volumesEnabled: true })).toEqual([`config.${key} is an option of Nomad's docker driver that Ruche's does not have; remove it`]);
    }
    expect(problems({ isolation: "hyperv" })).toEqual(["config.isolation is Windows' container isolation (process or hyperv), which a Linux Docker engine does not have; remove it"]);
    // Sharing one of the host's namespaces, or lifting the container's confinement, is the privileged containers' gate.
    const sharing = { ipc_mode: "host", uts_mode: "host", userns_mode: "host", security_opt: ["seccomp=unconfined"], oom_score_adj: -500 };
    for (const [key, value] of Object.entries(sharing)) {
      const found = problems({ [key]: value });
      expect(found, key).toHaveLength(1);
      expect(found[0], key).toMatch(new RegExp(`^config\\.${key}.*is not allowed on this node: .*-docker-allow-privileged\\) allows it$`));
      expect(problems({ [key]: value }, { allowPrivileged: true, volumesEnabled: false }), key).toEqual([]);
    }
    expect(problems({ ipc_mode: "container:db-1" })[0]).toContain("shares another container's shared memory");
    expect(problems({ cap_addd: ["CHOWN"] })).toEqual(["config.cap_addd is not an option of the docker driver"]);
  });

  it("takes dns_servers, dns_search_domains, dns_options, extra_hosts, cap_add (within Nomad's default allow_caps), cap_drop and a json-file logging block", () => {
    const c = config({
      image: "x",
      dns_servers: ["10.0.0.53"],
      dns_search_domains: ["corp.example"],
      dns_options: ["ndots:2"],
      extra_hosts: ["db.local:10.0.0.5"],
      cap_add: ["net_bind_service", "CAP_CHOWN"],
      cap_drop: ["all"],
      logging: { type: "json-file" },
      auth_soft_fail: true,
    });
    const host = createOptions(spec(), c).HostConfig;
    expect(host?.Dns).toEqual(["10.0.0.53"]);
    expect(host?.DnsSearch).toEqual(["corp.example"]);
    expect(host?.DnsOptions).toEqual(["ndots:2"]);
    expect(host?.ExtraHosts).toEqual(["db.local:10.0.0.5"]);
    expect(host?.CapAdd).toEqual(["NET_BIND_SERVICE", "CHOWN"]);
    expect(host?.CapDrop).toEqual(["ALL"]);
    expect(host?.LogConfig?.Type).toBe("json-file");
    const problems = (raw: Record<string, unknown>): string[] => {
      const r = readConfig({ image: "x", ...raw }, allow);
      return r.ok ? [] : r.problems;
    };
    expect(problems({ cap_add: ["NET_RAW"] })).toEqual([
      'config.cap_add[0]: capability "NET_RAW" is not allowed; a task may add AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT (Nomad\'s default allow_caps)',
    ]);
    expect(problems({ extra_hosts: ["db.local"] })).toEqual(['config.extra_hosts[0] must be "hostname:IP", got "db.local"']);
    expect(problems({ logging: { type: "syslog" } })).toEqual(['config.logging.type must be "json-file", got "syslog": Ruche reads the task\'s output from the engine\'s json-file log']);
    expect(problems({ logging: [{ type: "json-file", config: [{ "max-file": "3" }] }] })).toEqual([
      "config.logging.config is not supported: Ruche sizes the engine's json-file log itself, from the task's logs { max_file_size }",
    ]);
    expect(problems({ auth_soft_fail: "yes" })).toEqual(["config.auth_soft_fail must be true or false"]);
  });

  it("takes pids_limit, Nomad's key, as a whole number of processes", () => {
    expect(config({ image: "x", pids_limit: 50 }).pidsLimit).toBe(50);
    expect(config({ image: "x" }).pidsLimit).toBeUndefined();
    for (const bad of [0, -1, 2.5, "50", 5_000_000]) {
      expect(readConfig({ image: "x", pids_limit: bad }, allow)).toEqual({
        ok: false,
        problems: [`config.pids_limit must be a whole number of processes from 1 to 4194304, got ${JSON.stringify(bad)}`],
      });
    }
  });

  it("keeps a relative volume inside the allocation's directory, and mounts host paths only where the node allows them", () => {
    const closed = { allowPrivileged: false, volumesEnabled: false };
    // From the task's directory: inside it, or the allocation's shared alloc/ beside it.
    expect(readConfig({ image: "x", volumes: ["data:/data", "../alloc/data:/shared", "./a/../b:/b"] }, closed).ok).toBe(true);
    expect(readConfig({ image: "x", volumes: ["../x:/x", "../../escape:/e", "local/../../../etc:/etc2", "..:/up"] }, closed)).toEqual({
      ok: false,
      problems: [
        'config.volumes[1] mounts "../../escape", which leaves the allocation\'s directory: a relative host path is taken from the task\'s directory and must stay inside the allocation\'s',
        'config.volumes[2] mounts "local/../../../etc", which leaves the allocation\'s directory: a relative host path is taken from the task\'s directory and must stay inside the allocation\'s',
      ],
    });
    // Even where host paths are allowed, a relative path stays inside: a host path is written absolute.
    expect(readConfig({ image: "x", volumes: ["../../escape:/e"] }, allow).ok).toBe(false);
    expect(readConfig({ image: "x", volumes: ["/var/run/docker.sock:/var/run/docker.sock"] }, closed)).toEqual({
      ok: false,
      problems: [
        'config.volumes[0] mounts the host path "/var/run/docker.sock", and this node does not allow host volumes: start its agent with -docker-volumes (Nomad\'s docker plugin volumes { enabled = true }), or use a path relative to the task\'s directory',
      ],
    });
    expect(readConfig({ image: "x", volumes: ["/var/run/docker.sock:/var/run/docker.sock"] }, allow).ok).toBe(true);
  });

  it("reads mount blocks as Nomad's driver does: a bind is a volume with its checks, a named volume needs the node's permission, a tmpfs its options; pid_mode where privileged containers may run", () => {
    const closed = { allowPrivileged: false, volumesEnabled: false };
    const problems = (raw: Record<string, unknown>, o: typeof closed): string[] => {
      const x = readConfig({ image: "x", ...raw }, o);
      return x.ok ? [] : x.problems;
    };
    const r = readConfig({ image: "x", mount: [{ type: "bind", source: "local/a", target: "/a", readonly: true, bind_options: [{ propagation: "rslave" }] }, { type: "tmpfs", target: "/t", tmpfs_options: [{ size: 1024, mode: 448 }] }], mounts: [{ target: "/anon" }] }, closed);
    expect(r).toMatchObject({
      ok: true,
      config: {
        volumes: [{ host: "local/a", container: "/a", options: "ro,rslave" }],
        mounts: [
          { type: "tmpfs", target: "/t", readonly: false, tmpfsOptions: { sizeBytes: 1024, mode: 448 } },
          { type: "volume", target: "/anon", readonly: false },
        ],
      },
    });
    expect(problems({ mount: { type: "bind", source: "../../x", target: "/x" } }, closed)[0]).toMatch(/^config.mount mounts "..\/..\/x", which leaves the allocation's directory/);
    expect(problems({ mount: { type: "bind", source: "/etc", target: "/x" } }, closed)[0]).toMatch(/^config.mount mounts the host path "\/etc", and this node does not allow host volumes/);
    expect(problems({ mount: { type: "volume", source: "pgdata", target: "/x" } }, closed)).toEqual(['config.mount mounts the docker volume "pgdata", and this node does not allow volumes: start its agent with -docker-volumes (Nomad\'s docker plugin volumes { enabled = true })']);
    expect(problems({ mount: { type: "nfs", target: "/x" } }, closed)).toEqual(['config.mount.type must be "bind", "volume" or "tmpfs", got "nfs"']);
    expect(problems({ mount: { type: "tmpfs", target: "x" } }, closed)).toEqual(["config.mount.target must be an absolute path inside the container"]);
    expect(problems({ mount: { type: "tmpfs", target: "/x", tmpfs_size: 3 } }, closed)).toEqual(["config.mount.tmpfs_size is not an option of docker's mount block (type, target, source, readonly, bind_options, volume_options, tmpfs_options)"]);
    expect(problems({ pid_mode: "host" }, closed)[0]).toMatch(/^config.pid_mode = "host" is not allowed on this node: it shares the host's processes/);
    expect(readConfig({ image: "x", pid_mode: "host" }, { allowPrivileged: true, volumesEnabled: false })).toMatchObject({ ok: true, config: { pidMode: "host" } });
    // auth: the registry's credentials, as the engine takes them with a pull.
    expect(readConfig({ image: "x", auth: [{ username: "u", password: "p", server_address: "reg.example:5000" }] }, closed)).toMatchObject({ ok: true, config: { auth: { username: "u", password: "p", serveraddress: "reg.example:5000" } } });
    expect(problems({ auth: { username: "u" } }, closed)).toEqual(["config.auth needs a username and a password (the registry's credentials for the pull)"]);
    expect(problems({ auth: { username: "u", password: "p", helper: "ecr" } }, closed)).toEqual(["config.auth.helper is not an option of docker's auth block (username, password, email, server_address)"]);
  });

  it("merges an HCL labels block (a list of maps) and ignores a leftover port_map", () => {
    expect(config({ image: "x", labels: [{ a: "1" }, { b: "2" }], port_map: { http: 80 } }).labels).toEqual({ a: "1", b: "2" });
  });
});

describe("createOptions", () => {
  it("names the container <task>-<allocId> and marks it ours and with Nomad's labels, over the user's labels", () => {
    const o = createOptions(spec(), config({ image: "x", labels: { team: "web", [Label.TaskId]: "someone-else", "com.hashicorp.nomad.alloc_id": "forged" } }));
    expect(o.name).toBe("web-a1b2");
    expect(o.Labels).toEqual({
      team: "web",
      [Label.AllocId]: "a1b2",
      [Label.TaskName]: "web",
      [Label.JobId]: "shop",
      [Label.TaskId]: "a1b2/web",
      "com.hashicorp.nomad.alloc_id": "a1b2",
      "com.hashicorp.nomad.job_name": "Shop",
      "com.hashicorp.nomad.job_id": "shop",
      "com.hashicorp.nomad.task_group_name": "frontend",
      "com.hashicorp.nomad.task_name": "web",
      "com.hashicorp.nomad.namespace": "default",
      "com.hashicorp.nomad.node_name": "worker-1",
      "com.hashicorp.nomad.node_id": "5e3c1b0a-0000-4000-8000-000000000001",
    });
    expect(createOptions(spec({ parentJobId: "nightly" }), config({ image: "x" })).Labels?.["com.hashicorp.nomad.parent_job_id"]).toBe("nightly");
    expect(o.Env).toEqual(["PORT=8080"]);
  });

  it("publishes each port's `to` on its host ip:port, tcp and udp", () => {
    const ports = [
      { label: "http", value: 23456, to: 80, ip: "10.0.0.5" },
      { label: "admin", value: 23457, to: 23457, ip: "10.0.0.5" },
    ];
    const o = createOptions(spec({ ports }), config({ image: "x", ports: ["http", "admin"] }));
    expect(o.ExposedPorts).toEqual({ "80/tcp": {}, "80/udp": {}, "23457/tcp": {}, "23457/udp": {} });
    expect(o.HostConfig?.PortBindings).toEqual({
      "80/tcp": [{ HostIp: "10.0.0.5", HostPort: "23456" }],
      "80/udp": [{ HostIp: "10.0.0.5", HostPort: "23456" }],
      "23457/tcp": [{ HostIp: "10.0.0.5", HostPort: "23457" }],
      "23457/udp": [{ HostIp: "10.0.0.5", HostPort: "23457" }],
    });
    // `ports` picks which of the allocation's ports this task publishes.
    const only = createOptions(spec({ ports }), config({ image: "x", ports: ["admin"] }));
    expect(Object.keys(only.ExposedPorts ?? {})).toEqual(["23457/tcp", "23457/udp"]);
    // Docker refuses published ports with a container's network, ignores them with the host's.
    const host = readConfig({ image: "x", network_mode: "host" }, { allowPrivileged: true, volumesEnabled: false });
    if (!host.ok) throw new Error(host.problems.join("; "));
    expect(createOptions(spec({ ports }), host.config).ExposedPorts).toEqual({});
  });

  it("publishes no port when the config lists none, as Nomad's driver: the group's other tasks may publish theirs", () => {
    const ports = [{ label: "http", value: 23456, to: 80, ip: "10.0.0.5" }];
    const o = createOptions(spec({ ports }), config({ image: "x" }));
    expect(o.ExposedPorts).toEqual({});
    expect(o.HostConfig?.PortBindings).toEqual({});
  });

  it("joins a bridge group's pause container, whose ports are published in its place", () => {
    const ports = [{ label: "http", value: 23456, to: 8080, ip: "10.0.0.5" }];
    const network = { containerId: "c0ffee", netnsPath: "/proc/42/ns/net" };
    const o = createOptions(spec({ ports, network }), config({ image: "x", ports: ["http"] }));
    expect(o.HostConfig?.NetworkMode).toBe("container:c0ffee");
    expect(o.ExposedPorts).toEqual({});
    expect(o.HostConfig?.PortBindings).toEqual({});
    // The task's own network_mode wins over the group's.
    const own = readConfig({ image: "x", network_mode: "none" }, { allowPrivileged: false, volumesEnabled: false });
    if (!own.ok) throw new Error(own.problems.join("; "));
    expect(createOptions(spec({ ports, network }), own.config).HostConfig?.NetworkMode).toBe("none");
    // What docker refuses on a container's network is said, not sent.
    expect(() => createOptions(spec({ network }), config({ image: "x", hostname: "h" }))).toThrow("config.hostname: not supported on a task of a bridge group yet");
  });

  it("makes a bridge group's pause container nomad_init_<alloc> with the group's ports", () => {
    const req = { allocId: "a1b2", jobId: "shop", group: "frontend", namespace: "default", ports: [{ label: "http", value: 23456, to: 8080, ip: "10.0.0.5" }] };
    const o = pauseCreateOptions(req, "ruche-test/busybox:latest");
    expect(o.name).toBe(pauseContainerName("a1b2"));
    expect(o.name).toBe("nomad_init_a1b2");
    expect(o.Image).toBe("ruche-test/busybox:latest");
    expect(o.Labels).toMatchObject({ [PAUSE_LABEL]: "a1b2", [Label.AllocId]: "a1b2", "com.hashicorp.nomad.alloc_id": "a1b2" });
    // No task id: the pause container is never taken for a task's.
    expect(o.Labels?.[Label.TaskId]).toBeUndefined();
    expect(o.HostConfig?.PortBindings).toEqual({
      "8080/tcp": [{ HostIp: "10.0.0.5", HostPort: "23456" }],
      "8080/udp": [{ HostIp: "10.0.0.5", HostPort: "23456" }],
    });
    expect(o.OpenStdin).toBe(true);
  });

  it("fails on a port label the allocation does not hold", () => {
    expect(() => createOptions(spec(), config({ image: "x", ports: ["http"] }))).toThrow(DockerError);
    // A DockerError is one of the table's errors: the HTTP API answers it with the table's status.
    expect(() => createOptions(spec(), config({ image: "x", ports: ["http"] }))).toThrow(RucheError);
    let thrown: unknown;
    try {
      createOptions(spec(), config({ image: "x", ports: ["http"] }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: ErrorCode.DockerBadConfig, status: 400 });
    expect(() => createOptions(spec(), config({ image: "x", ports: ["http"] }))).toThrow('config.ports names port "http", which the allocation does not hold (it holds: none)');
  });

  it("limits memory without swap, sets cpu shares, runs tini, binds the task's directories", () => {
    const o = createOptions(spec({ cpu: 1 }), config({ image: "x", volumes: ["data:/data", "/srv/shared:/shared:ro"] }));
    expect(o.HostConfig).toMatchObject({
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      CpuShares: 2,
      Init: true,
      Privileged: false,
      PidsLimit: DEFAULT_PIDS_LIMIT,
      Binds: [
        "/var/ruche/alloc/a1b2/alloc:/alloc",
        "/var/ruche/alloc/a1b2/web/local:/local",
        "/var/ruche/alloc/a1b2/web/secrets:/secrets",
        "/var/ruche/alloc/a1b2/web/data:/data",
        "/srv/shared:/shared:ro",
      ],
    });
  });

  it("limits the container's processes to pids_limit, or the default", () => {
    expect(createOptions(spec(), config({ image: "x", pids_limit: 50 })).HostConfig?.PidsLimit).toBe(50);
    expect(DEFAULT_PIDS_LIMIT).toBe(4096);
  });

  it("keeps the engine's own log of the container to two of the task's log files (at least 2 MB each)", () => {
    expect(createOptions(spec(), config({ image: "x" })).HostConfig?.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": String(10 * 1024 * 1024), "max-file": "2" } });
    const small = spec({ logLimits: { maxFiles: 3, maxFileBytes: 1024 * 1024 } });
    expect(createOptions(small, config({ image: "x" })).HostConfig?.LogConfig?.Config).toEqual({ "max-size": String(2 * 1024 * 1024), "max-file": "2" });
  });

  it("runs command and args, or the image's own command", () => {
    expect(createOptions(spec(), config({ image: "x", command: "echo", args: ["hi"] })).Cmd).toEqual(["echo", "hi"]);
    expect(createOptions(spec(), config({ image: "x", args: ["--verbose"] })).Cmd).toEqual(["--verbose"]);
    expect(createOptions(spec(), config({ image: "x" })).Cmd).toBeUndefined();
    expect(createOptions(spec({ user: "nobody" }), config({ image: "x", work_dir: "/srv", hostname: "h" }))).toMatchObject({ User: "nobody", WorkingDir: "/srv", Hostname: "h" });
  });

  it("makes names docker accepts", () => {
    expect(containerName({ taskName: "web server", allocId: "a1" })).toBe("web_server-a1");
    expect(containerName({ taskName: "_x", allocId: "a1" })).toBe("t_x-a1");
  });
});

describe("Nomad's container options", () => {
  const closed = { allowPrivileged: false, volumesEnabled: false };
  const problems = (raw: Record<string, unknown>, o = closed): string[] => {
    const r = readConfig({ image: "x", ...raw }, o);
    return r.ok ? [] : r.problems;
  };

  it("reach the engine's create body as Nomad's driver sends them", () => {
    const c = config({
      image: "x",
      init: true,
      devices: [{ host_path: "/dev/fuse" }, { host_path: "/dev/ttyUSB0", container_path: "/dev/zwave", cgroup_permissions: "rw" }],
      ipc_mode: "shareable",
      cgroupns: "private",
      shm_size: 256 * 1024 * 1024,
      // HCL writes blocks as lists of maps, and numbers as numbers.
      sysctl: [{ "net.core.somaxconn": "16384" }, { "net.ipv4.ip_unprivileged_port_start": 0 }],
      ulimit: [{ nofile: "2048:4096", nproc: "512" }],
      security_opt: ["no-new-privileges", "apparmor=docker-default"],
      readonly_rootfs: true,
      tty: true,
      interactive: true,
      runtime: "runc",
      group_add: ["video", "1001"],
      healthchecks: [{ disable: true }],
      cpuset_cpus: "0-1",
      oom_score_adj: 500,
      storage_opt: [{ size: "40G" }],
      image_pull_timeout: "90s",
      load: "image.tar",
    });
    expect(c).toMatchObject({ imagePullTimeoutMs: 90_000, load: "image.tar" });
    const o = createOptions(spec(), c);
    expect(o).toMatchObject({ Tty: true, OpenStdin: true, Healthcheck: { Test: ["NONE"] } });
    expect(o.HostConfig).toMatchObject({
      Init: true,
      Devices: [
        { PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" },
        { PathOnHost: "/dev/ttyUSB0", PathInContainer: "/dev/zwave", CgroupPermissions: "rw" },
      ],
      IpcMode: "shareable",
      CgroupnsMode: "private",
      ShmSize: 256 * 1024 * 1024,
      Sysctls: { "net.core.somaxconn": "16384", "net.ipv4.ip_unprivileged_port_start": "0" },
      Ulimits: [
        { Name: "nofile", Soft: 2048, Hard: 4096 },
        { Name: "nproc", Soft: 512, Hard: 512 },
      ],
      SecurityOpt: ["no-new-privileges", "apparmor=docker-default"],
      ReadonlyRootfs: true,
      Runtime: "runc",
      GroupAdd: ["video", "1001"],
      CpusetCpus: "0-1",
      OomScoreAdj: 500,
      StorageOpt: { size: "40G" },
    });
  });

  it("leave the engine's defaults (and Ruche's tini) when not set; init = false runs the task as PID 1", () => {
    const o = createOptions(spec(), config({ image: "x" }));
    expect(o).toMatchObject({ Tty: false, OpenStdin: false });
    expect(o.Healthcheck).toBeUndefined();
    expect(o.NetworkingConfig).toBeUndefined();
    for (const k of ["Devices", "IpcMode", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Ulimits", "SecurityOpt", "ReadonlyRootfs", "Runtime", "GroupAdd", "CpuQuota", "MemoryReservation", "OomScoreAdj", "StorageOpt"]) {
      expect(o.HostConfig, k).not.toHaveProperty(k);
    }
    expect(o.HostConfig?.Init).toBe(true);
    expect(createOptions(spec(), config({ image: "x", init: false })).HostConfig?.Init).toBe(false);
  });

  it("share the host's namespaces where privileged containers may run", () => {
    const r = readConfig({ image: "x", ipc_mode: "host", uts_mode: "host", userns_mode: "host", pid_mode: "host", security_opt: ["seccomp=unconfined", "label=disable"], oom_score_adj: -100 }, { allowPrivileged: true, volumesEnabled: false });
    if (!r.ok) throw new Error(r.problems.join("; "));
    const o = createOptions(spec(), r.config);
    expect(o.HostConfig).toMatchObject({ IpcMode: "host", UTSMode: "host", UsernsMode: "host", PidMode: "host", SecurityOpt: ["seccomp=unconfined", "label=disable"], OomScoreAdj: -100 });
  });

  it("memory_hard_limit is the limit and the task's memory its reservation; more memory than the limit is refused", () => {
    const o = createOptions(spec({ memoryMB: 256 }), config({ image: "x", memory_hard_limit: 1024 }));
    expect(o.HostConfig).toMatchObject({ Memory: 1024 * 1024 * 1024, MemorySwap: 1024 * 1024 * 1024, MemoryReservation: 256 * 1024 * 1024 });
    expect(() => createOptions(spec({ memoryMB: 2048 }), config({ image: "x", memory_hard_limit: 1024 }))).toThrow("config.memory_hard_limit (1024 MB) is less than the task's memory (2048 MB)");
  });

  it("memory_max (oversubscription) is the limit and the task's memory its reservation, as memory_hard_limit; the greater of the two wins", () => {
    const MiB = 1024 * 1024;
    expect(createOptions(spec({ memoryMB: 256, memoryMaxMB: 1024 }), config({ image: "x" })).HostConfig).toMatchObject({ Memory: 1024 * MiB, MemorySwap: 1024 * MiB, MemoryReservation: 256 * MiB });
    // Both set: Nomad's memoryLimits takes the greater as the hard limit.
    expect(createOptions(spec({ memoryMB: 256, memoryMaxMB: 1024 }), config({ image: "x", memory_hard_limit: 512 })).HostConfig).toMatchObject({ Memory: 1024 * MiB, MemoryReservation: 256 * MiB });
    expect(createOptions(spec({ memoryMB: 256, memoryMaxMB: 512 }), config({ image: "x", memory_hard_limit: 2048 })).HostConfig).toMatchObject({ Memory: 2048 * MiB, MemoryReservation: 256 * MiB });
    // memory_max above the task's memory lifts a memory_hard_limit that alone would be refused.
    expect(createOptions(spec({ memoryMB: 2048, memoryMaxMB: 4096 }), config({ image: "x", memory_hard_limit: 1024 })).HostConfig).toMatchObject({ Memory: 4096 * MiB, MemoryReservation: 2048 * MiB });
  });

  it("memory_max = -1: no limit at all (not even memory_hard_limit's), the task's memory its reservation", () => {
    const MiB = 1024 * 1024;
    for (const raw of [{ image: "x" }, { image: "x", memory_hard_limit: 1024 }]) {
      const host = createOptions(spec({ memoryMB: 256, memoryMaxMB: -1 }), config(raw)).HostConfig;
      expect(host).toMatchObject({ Memory: 0, MemoryReservation: 256 * MiB });
      expect(host).not.toHaveProperty("MemorySwap");
    }
  });

  it("memory_max absent, 0 or not above the task's memory: the task's memory is the limit, nothing reserved", () => {
    const MiB = 1024 * 1024;
    for (const memoryMaxMB of [undefined, 0, 128, 256]) {
      const host = createOptions(spec({ memoryMB: 256, ...(memoryMaxMB === undefined ? {} : { memoryMaxMB }) }), config({ image: "x" })).HostConfig;
      expect(host, String(memoryMaxMB)).toMatchObject({ Memory: 256 * MiB, MemorySwap: 256 * MiB });
      expect(host, String(memoryMaxMB)).not.toHaveProperty("MemoryReservation");
    }
  });

  it("cpu_hard_limit caps the task at its MHz, as a CFS quota of cpu_cfs_period (default 100 ms)", () => {
    // 500 MHz on 2000 MHz cores: a quarter of a core.
    expect(createOptions(spec({ cpu: 500 }), config({ image: "x", cpu_hard_limit: true }), { coreMhz: 2000 }).HostConfig).toMatchObject({ CpuPeriod: 100_000, CpuQuota: 25_000 });
    expect(createOptions(spec({ cpu: 3000 }), config({ image: "x", cpu_hard_limit: true, cpu_cfs_period: 50_000 }), { coreMhz: 1500 }).HostConfig).toMatchObject({ CpuPeriod: 50_000, CpuQuota: 100_000 });
    // As Nomad's hclspec converts them: "true" is a boolean, "50000" a number.
    expect(createOptions(spec({ cpu: 500 }), config({ image: "x", cpu_hard_limit: "true", cpu_cfs_period: "50000", memory_hard_limit: "512" }), { coreMhz: 2000 }).HostConfig).toMatchObject({ CpuPeriod: 50_000, CpuQuota: 12_500, Memory: 512 * 1024 * 1024 });
    // Without cpu_hard_limit, the period alone changes nothing (as in Nomad).
    expect(createOptions(spec(), config({ image: "x", cpu_cfs_period: 50_000 }), { coreMhz: 2000 }).HostConfig?.CpuQuota).toBeUndefined();
  });

  it("puts network_aliases and mac_address on the container's endpoint of its network", () => {
    const o = createOptions(spec(), config({ image: "x", network_mode: "backend", network_aliases: ["db", "db.internal"], mac_address: "02:42:ac:11:00:02" }));
    expect(o.NetworkingConfig).toEqual({ EndpointsConfig: { backend: { Aliases: ["db", "db.internal"], MacAddress: "02:42:ac:11:00:02" } } });
    expect(o.MacAddress).toBe("02:42:ac:11:00:02");
    expect(createOptions(spec(), config({ image: "x", mac_address: "02:42:ac:11:00:02" })).NetworkingConfig).toEqual({ EndpointsConfig: { default: { MacAddress: "02:42:ac:11:00:02" } } });
    const network = { containerId: "pause123", netnsPath: "/proc/1/ns/net" };
    expect(() => createOptions(spec({ network }), config({ image: "x", mac_address: "02:42:ac:11:00:02" }))).toThrow("config.mac_address: not supported on a task of a bridge group yet");
  });

  it("refuses bad values, each naming where", () => {
    expect(
      problems({
        init: "yes",
        devices: [{ host_path: "/etc/passwd" }, { host_path: "/dev/null", container_path: "rel" }, { host_path: "/dev/null", cgroup_permissions: "rwx" }, { host_path: "/dev/null", path: "/x" }],
        ipc_mode: "everything",
        uts_mode: "private",
        userns_mode: "keep-id",
        cgroupns: "shared",
        shm_size: -1,
        sysctl: "net.core.somaxconn=1",
        ulimit: { nofile: "4096:1024", nprocs: "5", core: "lots" },
        security_opt: ["seccomp", "selinux=x", "seccomp=../../profile.json", "seccomp=/etc/profile.json"],
        runtime: "kata",
        healthchecks: { disable: "yes", interval: "5s" },
        network_aliases: ["db"],
        mac_address: "02:42",
        cpuset_cpus: "all",
        cpu_cfs_period: 10,
        memory_hard_limit: 1.5,
        oom_score_adj: 2000,
        image_pull_timeout: "soon",
        load: "../../other/image.tar",
      }),
    ).toEqual([
      "config.init must be true or false",
      'config.ipc_mode must be "private", "shareable", "none", "host" or "container:<name>", got "everything"',
      'config.uts_mode must be "host" (the host\'s hostname and domain name), got "private"',
      'config.userns_mode must be "host" (no user namespace remapping), got "keep-id"',
      'config.cgroupns must be "host" or "private", got "shared"',
      "config.shm_size must be a whole number of bytes, got -1",
      'config.sysctl must be a map, as in sysctl { name = "value" }',
      "config.ulimit.nofile: the soft limit (4096) must not be above the hard limit (1024)",
      "config.ulimit.nprocs: \"nprocs\" is not a resource limit; use one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack",
      'config.ulimit.core must be "soft" or "soft:hard", whole numbers, got "lots"',
      'config.devices[0].host_path must name a device under /dev, got "/etc/passwd"',
      'config.devices[1].container_path must be an absolute path inside the container, got "rel"',
      'config.devices[2].cgroup_permissions must be letters of r, w and m (as "rwm"), got "rwx"',
      "config.devices[3].path is not an option of docker's devices block (host_path, container_path, cgroup_permissions)",
      'config.security_opt[0] must be one of seccomp=..., apparmor=..., label=..., no-new-privileges=..., systempaths=..., writable-cgroups=... (or no-new-privileges), got "seccomp"',
      'config.security_opt[1] must be one of seccomp=..., apparmor=..., label=..., no-new-privileges=..., systempaths=..., writable-cgroups=... (or no-new-privileges), got "selinux=x"',
      'config.security_opt[2] reads "../../profile.json", which leaves the allocation\'s directory: a relative path is taken from the task\'s directory',
      'config.security_opt[3] reads the host file "/etc/profile.json", and this node does not allow host paths: start its agent with -docker-volumes, or give a path relative to the task\'s directory (local/seccomp.json)',
      'config.runtime "kata" is not allowed: a task may ask for runc or nvidia (Nomad\'s default allow_runtimes)',
      "config.healthchecks.interval is not an option of docker's healthchecks block (disable)",
      "config.healthchecks.disable must be true or false",
      "config.network_aliases needs network_mode to name a docker network of your own (docker keeps aliases to user-defined networks), got none",
      'config.mac_address must be a MAC address such as "02:42:ac:11:00:02", got "02:42"',
      'config.cpuset_cpus must list CPUs as "0-3" or "0,2", got "all"',
      "config.cpu_cfs_period must be microseconds from 1000 to 1000000 (0 for the default, 100000), got 10",
      "config.memory_hard_limit must be a whole number of MB, got 1.5",
      "config.oom_score_adj must be a whole number from -1000 to 1000, got 2000",
      'config.image_pull_timeout must be a duration such as "5m", got "soon"',
      'config.load must name a file in the task\'s local/ directory (where artifacts land), got "../../other/image.tar"',
    ]);
    expect(problems({ network_mode: "host", mac_address: "02:42:ac:11:00:02" }, { allowPrivileged: true, volumesEnabled: false })).toEqual(['config.mac_address cannot be set with network_mode "host": the container has no network interface of its own']);
  });
});

describe("exitResult", () => {
  it("reads 128+n as signal n", () => {
    expect(exitResult({ ExitCode: 0, OOMKilled: false })).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    expect(exitResult({ ExitCode: 3, OOMKilled: false })).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
    expect(exitResult({ ExitCode: 143, OOMKilled: false })).toEqual({ exitCode: 143, signal: 15, oomKilled: false });
    expect(exitResult({ ExitCode: 137, OOMKilled: true })).toEqual({ exitCode: 137, signal: 9, oomKilled: true });
    expect(exitResult({ ExitCode: 255, OOMKilled: false }).signal).toBe(0);
  });
});
