import type { Driver } from "../driver.js";
import { DockerDriver } from "./docker-driver.js";

/** The tests' image: a static busybox built locally by test/images/build-busybox.sh (no registry needed). */
export const TEST_IMAGE = "ruche-test/busybox:latest";

/** The docker driver's entry in `driver.contract.test.ts`: commands run in the test image. */
export const contractCase = {
  name: "docker",
  make(): Driver {
    return new DockerDriver();
  },
  config(cmd: string[]): Record<string, unknown> {
    return { image: TEST_IMAGE, command: cmd[0], args: cmd.slice(1) };
  },
};
