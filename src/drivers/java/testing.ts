/**
 * Test support for the java driver (not used by Ruche itself): Java programs compiled with
 * the node's JDK (javac and jar, Debian's default-jdk-headless) into a jar in a temp dir.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary } from "../shared/index.js";

/**
 * Runs its arguments as a command with the JVM's own stdin, stdout and stderr, and exits with
 * its exit code (128+N when a signal ended it). It ignores SIGHUP, SIGINT and SIGTERM itself:
 * they reach the command too (the task's process group), which decides how the task ends.
 */
export const RUN_ARGS_JAVA = `import sun.misc.Signal;

public final class RunArgs {
  public static void main(String[] args) throws Exception {
    for (String name : new String[] {"HUP", "INT", "TERM"}) Signal.handle(new Signal(name), sig -> {});
    Process p = new ProcessBuilder(args).inheritIO().start();
    System.exit(p.waitFor());
  }
}
`;

/**
 * Says what the JVM was given: its arguments, a system property, its cwd, the heap it may
 * use (a JVM sizes it from its cgroup's memory limit) and its pid, then exits with the code
 * of its first argument when that is a number.
 */
export const HELLO_JAVA = `public final class Hello {
  public static void main(String[] args) {
    System.out.println("Hello from Java " + System.getProperty("java.version"));
    System.out.println("args: " + String.join(",", args));
    System.out.println("greeting: " + System.getProperty("greeting"));
    System.out.println("cwd: " + System.getProperty("user.dir"));
    System.out.println("max heap MB: " + Runtime.getRuntime().maxMemory() / (1024 * 1024));
    System.out.println("pid: " + ProcessHandle.current().pid());
    System.err.println("to stderr");
    if (args.length > 0 && args[0].matches("[0-9]+")) System.exit(Integer.parseInt(args[0]));
  }
}
`;

/**
 * Compiles `sources` (class name → Java source) with javac and packs them into `<dir>/<name>`
 * with jar, `mainClass` as its Main-Class when given. Throws saying what is missing when the
 * JDK is not installed.
 */
export function buildJar(dir: string, name: string, sources: Record<string, string>, mainClass?: string): string {
  const javac = findBinary("javac");
  const jar = findBinary("jar");
  if (javac === undefined || jar === undefined) throw new Error("javac and jar are not installed (Debian: default-jdk-headless; scripts/test-deps.sh tools)");
  const src = mkdtempSync(join(tmpdir(), "ruche-java-src-"));
  const classes = join(src, "classes");
  mkdirSync(classes);
  const files = Object.entries(sources).map(([cls, text]) => {
    const file = join(src, `${cls}.java`);
    writeFileSync(file, text);
    return file;
  });
  execFileSync(javac, ["-nowarn", "-XDignore.symbol.file", "-d", classes, ...files], { stdio: ["ignore", "ignore", "pipe"] });
  const out = join(dir, name);
  try {
    execFileSync(jar, ["--create", `--file=${out}`, ...(mainClass === undefined ? [] : [`--main-class=${mainClass}`]), "-C", classes, "."], { stdio: ["ignore", "ignore", "pipe"] });
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
  return out;
}
