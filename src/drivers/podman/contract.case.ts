import type { DriverContractCase } from "../shared/testing.js";
import { PodmanDriver } from "./podman-driver.js";
import { PODMAN_TEST_IMAGE, podmanTestService } from "./testing.js";

/**
 * The tests' podman service (started here once per test process, or the parent test's). When
 * it cannot start, the driver is made on a socket nobody serves: the contract's first test
 * fails saying why, and the other drivers' cases still run.
 */
const service = await podmanTestService().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));

/** The podman driver's entry in `driver.contract.test.ts`: commands run in the test image, through a podman service of the test's own. */
export const contractCase: DriverContractCase = {
  name: "podman",
  make: () => new PodmanDriver({ socketPath: typeof service === "string" ? service : "/nonexistent/ruche-test-podman.sock" }),
  config: (cmd) => ({ image: PODMAN_TEST_IMAGE, command: cmd[0], args: cmd.slice(1) }),
  needs: typeof service === "string" ? "podman (Debian's podman: its API service, podman system service)" : service.message,
};
