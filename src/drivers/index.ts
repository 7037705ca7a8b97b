export * from "./driver.js";
export { DockerDriver } from "./docker/index.js";
export { ExecDriver } from "./exec/index.js";
export { MockDriver } from "./mock/mock-driver.js";
export { RawExecDriver } from "./raw_exec/index.js";
import { DockerDriver } from "./docker/index.js";
import type { Driver } from "./driver.js";
import { ExecDriver } from "./exec/index.js";
import { RawExecDriver } from "./raw_exec/index.js";

/** Every driver a node agent offers (each fingerprints whether it works on this machine). */
export function allDrivers(): Driver[] {
  return [new DockerDriver(), new ExecDriver(), new RawExecDriver()];
}
