import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DriverContractCase } from "../shared/testing.js";
import { JavaDriver } from "./driver.js";
import { buildJar, RUN_ARGS_JAVA } from "./testing.js";

const JAR = "ruche-run-args.jar";

/** The jar of RunArgs, built once per process (with the node's JDK) and removed at its exit. */
let built: string | undefined;
function runArgsJar(): string {
  if (built !== undefined) return built;
  const dir = mkdtempSync(join(tmpdir(), "ruche-java-contract-"));
  process.on("exit", () => {
    rmSync(dir, { recursive: true, force: true });
  });
  built = buildJar(dir, JAR, { RunArgs: RUN_ARGS_JAVA });
  return built;
}

/**
 * The java driver's entry in `driver.contract.test.ts`: a JVM (class RunArgs, from a jar in
 * the task's local/) that runs the command as its child and exits with its exit code, with
 * jvm_options that make it start fast and small.
 */
export const contractCase: DriverContractCase = {
  name: "java",
  make: () => new JavaDriver(),
  config: (cmd) => ({
    class: "RunArgs",
    class_path: `local/${JAR}`,
    jvm_options: ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx16m"],
    args: cmd,
  }),
  prepare: (spec) => {
    copyFileSync(runArgsJar(), join(spec.taskDir, "local", JAR));
  },
  needs: "root, a JVM (java on the system PATH, under /usr) and javac and jar (default-jdk-headless), and what the exec driver needs",
};
