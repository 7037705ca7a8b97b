export * from "./driver.js";
export { DockerDriver } from "./docker/index.js";
export { ExecDriver } from "./exec/index.js";
export { MockDriver } from "./mock/mock-driver.js";
export { RawExecDriver } from "./raw_exec/index.js";
import { DockerDriver } from "./docker/index.js";
import type { Driver } from "./driver.js";
import { ExecDriver } from "./exec/index.js";
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
    new RawExecDriver({ enabled: opts.rawExec ?? false }),
  ];
}
