import type { DriverContractCase } from "../shared/testing.js";
import { ExecDriver } from "./driver.js";

/** The exec driver's entry in `driver.contract.test.ts`: commands run isolated, in the host's system read-only. */
export const contractCase: DriverContractCase = {
  name: "exec",
  make: () => new ExecDriver(),
  config: (cmd) => ({ command: cmd[0], args: cmd.slice(1) }),
  needs: "root, util-linux (unshare, nsenter), and a cgroup v1 memory+cpu or cgroup v2 hierarchy",
};
