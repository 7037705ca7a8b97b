import type { DriverContractCase } from "../shared/testing.js";
import { ContainerdDriver } from "./driver.js";
import { importTestImage, testContainerdAddress, TEST_IMAGE, TEST_NAMESPACE } from "./testing.js";

/** The containerd driver's entry in `driver.contract.test.ts`: commands run in the test image, in a namespace of the tests. */
export const contractCase: DriverContractCase = {
  name: "containerd-driver",
  make: () => {
    importTestImage();
    return new ContainerdDriver({ address: testContainerdAddress(), namespace: TEST_NAMESPACE });
  },
  config: (cmd) => ({ image: TEST_IMAGE, command: cmd[0], args: cmd.slice(1) }),
  needs: "containerd answering on its socket (the Docker engine's of scripts/test-deps.sh will do) and ctr (Debian package containerd), as root",
};
