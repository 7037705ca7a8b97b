import { request } from "node:http";
import type Dockerode from "dockerode";
import type { TaskSpec } from "../driver.js";
import { containerName, DockerDriver, type DockerDriverOptions, type DockerTaskConfig, type EngineStats, type ReadConfigResult } from "../docker/index.js";
import { readPodmanConfig, type PodmanTaskConfig } from "./config.js";

/** Where podman's API service listens when run as root (`podman.socket`), as the plugin's default. */
export const DEFAULT_PODMAN_SOCKET = "/run/podman/podman.sock";

export interface PodmanDriverOptions extends Omit<DockerDriverOptions, "endpoint" | "env" | "volumesEnabled"> {
  /** The service's socket, `unix:///path` or a path (the plugin's `socket_path`; default `DEFAULT_PODMAN_SOCKET`). */
  socketPath?: string;
  /** Whether tasks' volumes may mount absolute host paths (the plugin's `volumes { enabled }`: on by default, as there). */
  volumesEnabled?: boolean;
}

/** What libpod's `/libpod/info` says of the host, as the plugin reads it for its attributes. */
interface LibpodInfo {
  host?: {
    cgroupVersion?: string;
    ociRuntime?: { path?: string };
    remoteSocket?: { path?: string };
    security?: { rootless?: boolean; apparmorEnabled?: boolean; seccompEnabled?: boolean; selinuxEnabled?: boolean; capabilities?: string };
  };
}

/** The socket path of a `socket_path` as the plugin takes it ("unix:///run/podman/podman.sock" or a bare path); unset: the plugin's default. */
export function podmanSocketPath(socketPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (socketPath === undefined || socketPath === "") {
    // As the plugin: root's system service, or the user's own (rootless) one.
    const runtimeDir = env.XDG_RUNTIME_DIR;
    return process.getuid?.() === 0 || runtimeDir === undefined || runtimeDir === "" ? DEFAULT_PODMAN_SOCKET : `${runtimeDir}/podman/podman.sock`;
  }
  return socketPath.startsWith("unix://") ? socketPath.slice("unix://".length) : socketPath;
}

/**
 * Runs tasks as podman containers (`driver = "podman"`, nomad-driver-podman's task config),
 * through podman's Docker-compatible API: the docker driver's code (create, logs, waits,
 * signals, stats, exec, recovery, bridge groups' pause containers) speaks to podman's socket,
 * with podman's config keys read into the docker driver's shape and podman's own options
 * added to the container.
 */
export class PodmanDriver extends DockerDriver {
  override readonly name: string = "podman";
  protected override readonly engineName: string = "the podman service";
  private readonly socketPath: string;
  /** Each container's last CPU reading: podman's one-shot stats carry no earlier one to measure CPU over. */
  private readonly lastCpu = new Map<string, NonNullable<EngineStats["cpu_stats"]>>();

  constructor(opts: PodmanDriverOptions = {}) {
    const socketPath = podmanSocketPath(opts.socketPath);
    super({ ...opts, endpoint: { kind: "unix", socketPath }, volumesEnabled: opts.volumesEnabled ?? true });
    this.socketPath = socketPath;
  }

  /** The plugin's attributes: `driver.podman`, its version, and what libpod's info says of the host. */
  protected override async engineAttributes(v: Dockerode.DockerVersion): Promise<Record<string, string>> {
    const info = await this.libpodInfo();
    const sec = info.host?.security ?? {};
    const attributes: Record<string, string> = {
      "driver.podman": "1",
      "driver.podman.version": v.Version,
      "driver.podman.health": "healthy",
      "driver.podman.defaultPodman": "true",
      "driver.podman.socketName": "default",
      "driver.podman.rootless": String(sec.rootless === true),
      "driver.podman.appArmor": String(sec.apparmorEnabled === true),
      "driver.podman.seccompEnabled": String(sec.seccompEnabled === true),
      "driver.podman.selinuxEnabled": String(sec.selinuxEnabled === true),
      "driver.podman.capabilities": sec.capabilities ?? "",
      "driver.podman.cgroupVersion": info.host?.cgroupVersion ?? "",
    };
    if (info.host?.ociRuntime?.path !== undefined) attributes["driver.podman.ociRuntime"] = info.host.ociRuntime.path;
    if (info.host?.remoteSocket?.path !== undefined) attributes["driver.podman.socket"] = info.host.remoteSocket.path;
    return attributes;
  }

  protected override readTaskConfig(config: Record<string, unknown>): ReadConfigResult {
    const r = this.readPodman(config);
    return r.ok ? { ok: true, config: r.config.docker } : r;
  }

  /** The docker driver's container, with podman's own options (read again from the spec: a pure read). */
  protected override containerOptions(spec: TaskSpec, cfg: DockerTaskConfig): Dockerode.ContainerCreateOptions {
    const opts = super.containerOptions(spec, cfg);
    const r = this.readPodman(spec.config);
    if (!r.ok) return opts;
    return podmanOptions(spec, r.config, opts);
  }

  /**
   * podman's one-shot stats, with the earlier reading docker's carry (`precpu_stats`): this
   * container's last one, or, at the first, one taken a second before (as docker does).
   */
  protected override async engineStats(container: Dockerode.Container): Promise<EngineStats> {
    let before = this.lastCpu.get(container.id);
    if (before === undefined) {
      before = (await super.engineStats(container)).cpu_stats;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const now = await super.engineStats(container);
    if (now.cpu_stats !== undefined) this.lastCpu.set(container.id, now.cpu_stats);
    if (now.read === undefined || now.read.startsWith("0001-")) this.lastCpu.delete(container.id);
    return before === undefined ? now : { ...now, precpu_stats: before };
  }

  private readPodman(config: Record<string, unknown>): ReturnType<typeof readPodmanConfig> {
    return readPodmanConfig(config, { allowPrivileged: this.allowPrivileged, volumesEnabled: this.volumesEnabled });
  }

  /** libpod's `/info` over the socket (the plugin's `SystemInfo`), with a timeout. */
  private libpodInfo(): Promise<LibpodInfo> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: "/v4.0.0/libpod/info", timeout: 5000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => {
          if (res.statusCode !== 200) {
            reject(new Error(`libpod info answered ${res.statusCode ?? 0}: ${body.trim()}`));
            return;
          }
          try {
            resolve(JSON.parse(body) as LibpodInfo);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error("libpod info did not answer within 5 s")));
      req.on("error", reject);
      req.end();
    });
  }
}

/** Podman's options on top of the docker driver's container (a pure function, tested without podman). */
export function podmanOptions(spec: Pick<TaskSpec, "taskName" | "allocId">, cfg: PodmanTaskConfig, opts: Dockerode.ContainerCreateOptions): Dockerode.ContainerCreateOptions {
  const host: Dockerode.HostConfig = { ...opts.HostConfig };
  if (Object.keys(cfg.tmpfs).length > 0) host.Tmpfs = cfg.tmpfs;
  if (cfg.memoryReservationBytes !== undefined) host.MemoryReservation = cfg.memoryReservationBytes;
  if (cfg.memorySwappiness !== undefined) host.MemorySwappiness = cfg.memorySwappiness;
  if (cfg.joinTask !== undefined) {
    // The group's other task's container, by the name the driver gives it.
    host.NetworkMode = `container:${containerName({ taskName: cfg.joinTask, allocId: spec.allocId })}`;
    host.PortBindings = {};
  }
  return { ...opts, HostConfig: host };
}
