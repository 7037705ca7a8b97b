import type Dockerode from "dockerode";
import { ErrorCode, type Logger } from "../../structs/index.js";
import type { AllocNetwork, AllocNetworkRequest } from "../driver.js";
import { Label, NomadLabel } from "./container.js";
import { DockerError, engineMessage, engineStatus } from "./errors.js";
import { ensureImage } from "./image.js";

/**
 * The image of an allocation's pause container when the agent names none: Nomad's docker
 * plugin `infra_image` default. A node without a registry names a local image that stays up
 * on its own command (or reads its input: the container is made with an open stdin, so an
 * image whose command is a shell waits there, as the test image's does).
 */
export const DEFAULT_INFRA_IMAGE = "registry.k8s.io/pause-amd64:3.3";

/** Label of a pause container: the allocation whose network it holds. */
export const PAUSE_LABEL = "com.ruche.network_for";

/** The pause container's name, Nomad's: `nomad_init_<allocId>`. */
export function pauseContainerName(allocId: string): string {
  return `nomad_init_${allocId}`.replace(/[^a-zA-Z0-9_.-]/g, "_");
}

/**
 * The pause container of a bridge group (pure): it holds the network namespace the group's
 * tasks join, on docker's default bridge, with the allocation's ports published on the host
 * once for the whole group (each port's `to` inside, tcp and udp). For a CNI network
 * (`networkMode: "none"`) it holds an empty namespace and publishes nothing.
 */
export function pauseCreateOptions(req: AllocNetworkRequest, image: string): Dockerode.ContainerCreateOptions {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  // In a CNI network the engine publishes nothing: the network's plugins (portmap) do.
  for (const p of req.networkMode === "none" ? [] : req.ports) {
    for (const proto of ["tcp", "udp"]) {
      const key = `${p.to}/${proto}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.ip, HostPort: String(p.value) });
    }
  }
  return {
    name: pauseContainerName(req.allocId),
    Image: image,
    Labels: {
      [PAUSE_LABEL]: req.allocId,
      [Label.AllocId]: req.allocId,
      [Label.JobId]: req.jobId,
      [NomadLabel.AllocId]: req.allocId,
      [NomadLabel.JobId]: req.jobId,
      [NomadLabel.TaskGroupName]: req.group,
      [NomadLabel.Namespace]: req.namespace,
    },
    ExposedPorts: exposed,
    // The group's tasks join this container's network, and with it take its hostname.
    ...(req.hostname === undefined ? {} : { Hostname: req.hostname }),
    // An image whose command is a shell waits on its input instead of exiting.
    OpenStdin: true,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    HostConfig: {
      PortBindings: bindings,
      // A CNI network's namespace: loopback only, for the node's CNI plugins to wire (Nomad's docker driver makes it so).
      ...(req.networkMode === "none" ? { NetworkMode: "none" } : {}),
      // Holds a namespace and nothing else: a few MB, and it is never killed for going over.
      Memory: 16 * 1024 * 1024,
      CpuShares: 2,
      PidsLimit: 16,
      // Its tasks depend on it: after an engine restart it comes back.
      RestartPolicy: { Name: "unless-stopped" },
      LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "1" } },
    },
  };
}

/**
 * Makes the allocation's pause container, or finds it again (an agent restart, a prerun run
 * twice): one already there that is this allocation's is used as it is, and started if it
 * stopped. Resolves with its id and the path of its network namespace.
 */
export async function createPauseContainer(docker: Dockerode, req: AllocNetworkRequest, image: string, pullTimeoutMs: number, log: Logger): Promise<AllocNetwork> {
  const name = pauseContainerName(req.allocId);
  let info = await inspectOrNull(docker, name);
  if (info !== null && info.Config.Labels[PAUSE_LABEL] !== req.allocId) {
    throw new DockerError(ErrorCode.DockerNameTaken, `a container named ${name} already exists and does not hold allocation ${req.allocId}'s network (no ${PAUSE_LABEL} label); remove or rename it`);
  }
  if (info === null) {
    try {
      await ensureImage(docker, image, false, pullTimeoutMs, log);
    } catch (err) {
      const why = err instanceof DockerError ? err.message : engineMessage(err);
      throw new DockerError(ErrorCode.DockerImageUnavailable, `the bridge network's pause container: ${why} (the agent's -docker-infra-image, Nomad's infra_image, names its image)`, { cause: err });
    }
    try {
      await docker.createContainer(pauseCreateOptions(req, image));
    } catch (err) {
      if (engineStatus(err) !== 409) throw new DockerError(ErrorCode.DockerEngine, `creating the allocation's pause container ${name} failed: ${engineMessage(err)}`, { cause: err });
    }
    log.info({ allocId: req.allocId, container: name }, "made the allocation's shared network (pause container)");
  }
  info = await inspectOrNull(docker, name);
  if (info === null) throw new DockerError(ErrorCode.DockerEngine, `the allocation's pause container ${name} went away as it was made`);
  if (!info.State.Running) {
    try {
      await docker.getContainer(info.Id).start();
    } catch (err) {
      throw new DockerError(ErrorCode.DockerEngine, `starting the allocation's pause container ${name} (image ${image}) failed: ${engineMessage(err)}`, { cause: err });
    }
    info = await inspectOrNull(docker, name);
    if (info?.State.Running !== true) {
      throw new DockerError(ErrorCode.DockerEngine, `the allocation's pause container ${name} (image ${image}) does not stay up: its image's command must run until stopped`);
    }
  }
  return { containerId: info.Id, netnsPath: `/proc/${info.State.Pid}/ns/net` };
}

/** Removes the allocation's pause container, if there is one and it is the allocation's. */
export async function removePauseContainer(docker: Dockerode, allocId: string): Promise<void> {
  const name = pauseContainerName(allocId);
  const info = await inspectOrNull(docker, name);
  if (info?.Config.Labels[PAUSE_LABEL] !== allocId) return;
  try {
    await docker.getContainer(info.Id).remove({ force: true, v: true });
  } catch (err) {
    if (engineStatus(err) === 404) return;
    throw new DockerError(ErrorCode.DockerEngine, `removing the allocation's pause container ${name} failed: ${engineMessage(err)}`, { cause: err });
  }
}

async function inspectOrNull(docker: Dockerode, name: string): Promise<Dockerode.ContainerInspectInfo | null> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (err) {
    if (engineStatus(err) === 404) return null;
    throw new DockerError(ErrorCode.DockerEngine, `looking up container ${name} failed: ${engineMessage(err)}`, { cause: err });
  }
}
