export * from "./driver.js";
export { ContainerdDriver, type ContainerdDriverOptions } from "./containerd/index.js";
export { DockerDriver } from "./docker/index.js";
export { ExecDriver } from "./exec/index.js";
export { JavaDriver } from "./java/index.js";
export { MockDriver } from "./mock/mock-driver.js";
export { PodmanDriver, type PodmanDriverOptions } from "./podman/index.js";
export { RawExecDriver } from "./raw_exec/index.js";
import { ContainerdDriver, type ContainerdDriverOptions } from "./containerd/index.js";
import { DockerDriver } from "./docker/index.js";
import type { Driver } from "./driver.js";
import { ExecDriver } from "./exec/index.js";
import { JavaDriver } from "./java/index.js";
import { PodmanDriver, type PodmanDriverOptions } from "./podman/index.js";
import { RawExecDriver } from "./raw_exec/index.js";

export interface DriverOptions {
  /** Docker volumes may mount absolute host paths (the agent's -docker-volumes). */
  dockerVolumes?: boolean;
  /** Docker tasks may be privileged or share the host's network (the agent's -docker-allow-privileged). */
  dockerPrivileged?: boolean;
  /** The image of a bridge group's pause container (the agent's -docker-infra-image; Nomad's `infra_image`). */
  dockerInfraImage?: string;
  /** raw_exec is offered (the agent's -raw-exec, on in -dev); off, it fingerprints as "disabled". */
  rawExec?: boolean;
  /** The containerd-driver's plugin config (`plugin "containerd-driver" { config { ... } }`); absent: the plugin's defaults. */
  containerd?: ContainerdDriverOptions;
  /** The podman driver's plugin config (`plugin "podman" { config { ... } }`); absent: the plugin's defaults. */
  podman?: PodmanDriverOptions;
}

/** Every driver a node agent offers (each fingerprints whether it works on this machine). */
export function allDrivers(opts: DriverOptions = {}): Driver[] {
  return [
    new DockerDriver({
      volumesEnabled: opts.dockerVolumes ?? false,
      allowPrivileged: opts.dockerPrivileged ?? false,
      ...(opts.dockerInfraImage === undefined ? {} : { infraImage: opts.dockerInfraImage }),
    }),
    new ExecDriver(),
    new JavaDriver(),
    new RawExecDriver({ enabled: opts.rawExec ?? false }),
    new ContainerdDriver(opts.containerd ?? {}),
    // A bridge group of podman tasks is held by a pause container too, of the same image.
    new PodmanDriver({ ...(opts.dockerInfraImage === undefined ? {} : { infraImage: opts.dockerInfraImage }), ...opts.podman }),
  ];
}
