/** What `java -version` says of a JVM: Nomad's `driver.java.version`, `driver.java.runtime` and `driver.java.vm`. */
export interface JavaVersion {
  /** The version number of the first line: "17.0.15", "1.8.0_392". */
  version: string;
  /** The second line: "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)". */
  runtime: string;
  /** The third line: "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)". */
  vm: string;
}

/**
 * Reads the output of `java -version` (its stderr) as Nomad's driver does: the first three
 * lines after any "Picked up _JAVA_OPTIONS" / "Picked up JAVA_TOOL_OPTIONS" notice; the
 * version is the first run of digits, dots and underscores of the first line. Fewer than
 * three lines: undefined (not a JVM's answer).
 */
export function parseJavaVersion(output: string): JavaVersion | undefined {
  const lines = output
    .trim()
    .split("\n")
    .map((l) => l.trim());
  while (lines[0]?.startsWith("Picked up ") === true) lines.shift();
  const [first, runtime, vm] = lines;
  if (first === undefined || runtime === undefined || vm === undefined) return undefined;
  const version = /([.\d_]+)/.exec(first)?.[1] ?? first;
  return { version, runtime, vm };
}
