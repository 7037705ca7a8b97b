export * from "./driver.js";
export { DockerDriver } from "./docker/index.js";
export { MockDriver } from "./mock/mock-driver.js";
import { DockerDriver } from "./docker/index.js";
import type { Driver } from "./driver.js";

/** Every driver a node agent offers (each fingerprints whether it works on this machine). */
export function allDrivers(): Driver[] {
  return [new DockerDriver()];
}
