import type { DriverContractCase } from "../shared/testing.js";
import { RawExecDriver } from "./driver.js";

/** The raw_exec driver's entry in `driver.contract.test.ts`: commands run on the host. */
export const contractCase: DriverContractCase = {
  name: "raw_exec",
  make: () => new RawExecDriver(),
  config: (cmd) => ({ command: cmd[0], args: cmd.slice(1) }),
  needs: "Linux and setsid (util-linux)",
};
