import { realpathSync } from "node:fs";
import { platform } from "node:os";
import { ErrorCode, errorMessage, RucheError } from "../../structs/index.js";
import type { DriverFingerprint } from "../driver.js";
import { ExecDriver, HOST_READ_ONLY, ISOLATION_KEYS, probeExec, type ExecDriverOptions } from "../exec/index.js";
import { findBinary, runCommand, SYSTEM_PATH } from "../shared/index.js";
import { javaCommand, validateJavaConfig } from "./config.js";
import { parseJavaVersion } from "./version.js";

/**
 * `java`: a task is a JVM, `java [jvm_options] [-cp class_path] (-jar jar_path | class)
 * [args]`, run exactly as an exec task runs (the exec driver's namespaces, root of the host's
 * system read-only, cgroup, capabilities, host volumes, bridge group), as Nomad's java driver
 * runs its command under the exec driver's executor. The JVM is the node's `java` on the
 * system PATH, its symlinks followed (Debian's /usr/bin/java → /etc/alternatives/java →
 * /usr/lib/jvm/…/bin/java), which the task sees at the same path under /usr. Paths in the
 * config are the task's: `local/app.jar` is the task dir's `local/` (the task runs in /).
 */
export class JavaDriver extends ExecDriver {
  constructor(opts: ExecDriverOptions = {}) {
    super(opts, {
      name: "java",
      validate: (config) => validateJavaConfig(config, ISOLATION_KEYS),
      command: (config) => javaCommand(config, ISOLATION_KEYS, javaBinary()),
    });
  }

  /**
   * As Nomad's: undetected off Linux, without root, or without a JVM (`java -version` is
   * read for `driver.java.version`, `.runtime` and `.vm`); then healthy when exec tasks can
   * run here (the exec driver's probe) and the JVM is where a task sees it.
   */
  override async fingerprint(): Promise<DriverFingerprint> {
    const undetected = (description: string): DriverFingerprint => ({ detected: false, healthy: false, description, attributes: {} });
    if (platform() !== "linux") return undetected("java runs on Linux only");
    if (process.getuid?.() !== 0) return undetected("java needs the agent to run as root (its tasks are isolated as exec tasks: namespaces, mounts and cgroups)");
    let java: string;
    try {
      java = javaBinary();
    } catch (err) {
      return undetected(errorMessage(err));
    }
    let output: string;
    try {
      const r = await runCommand([java, "-version"], { env: { PATH: SYSTEM_PATH }, cwd: "/", timeoutMs: 30_000 });
      output = `${r.stderr.toString()}${r.stdout.toString()}`;
      if (r.exitCode !== 0) return undetected(`${java} -version failed (exit code ${r.exitCode}): ${output.trim()}`);
    } catch (err) {
      return undetected(`cannot run ${java} -version: ${errorMessage(err)}`);
    }
    // As Nomad's: a JVM whose answer is not the usual three lines is still one, its version unknown.
    const v = parseJavaVersion(output) ?? { version: "", runtime: "", vm: "" };
    const attributes = { "driver.java": "1", "driver.java.version": v.version, "driver.java.runtime": v.runtime, "driver.java.vm": v.vm };
    const exec = await probeExec();
    if (!exec.healthy) return { detected: true, healthy: false, description: exec.description, attributes };
    return { detected: true, healthy: true, description: `Healthy: java ${v.version === "" ? "of an unknown version" : v.version} (${java}), isolated as exec tasks (${exec.description.replace(/^Healthy: /, "")})`, attributes };
  }
}

/**
 * The node's JVM: `java` on the system PATH with its symlinks followed, which must be under
 * a path a task sees (HOST_READ_ONLY: /usr, /bin, …). Throws saying what is missing.
 */
export function javaBinary(): string {
  const found = findBinary("java");
  if (found === undefined) throw new RucheError(ErrorCode.Internal, `java: no java on the node's PATH (${SYSTEM_PATH}); install a JDK or JRE (Debian: default-jre-headless)`);
  const real = realpathSync(found);
  const seen = HOST_READ_ONLY.some((p) => real === p || real.startsWith(`${p}/`));
  if (!seen) throw new RucheError(ErrorCode.Internal, `java: ${found} is ${real}, outside what a task sees (${HOST_READ_ONLY.join(", ")}); install the JVM under /usr`);
  return real;
}
