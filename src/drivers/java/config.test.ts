/**
 * The java driver's task config and `java -version` reading, as Nomad's driver has them
 * (drivers/java/driver.go's javaCmdArgs and validation, utils.go's parseJavaVersionOutput
 * with the outputs of its utils_test.go). The JVM itself runs in java.test.ts.
 */
import { describe, expect, it } from "vitest";
import { ISOLATION_KEYS } from "../exec/index.js";
import { javaArgs, validateJavaConfig } from "./config.js";
import { JavaDriver } from "./driver.js";
import { parseJavaVersion } from "./version.js";

const validate = (config: Record<string, unknown>): string[] => validateJavaConfig(config, ISOLATION_KEYS);

describe("java task config", () => {
  it("builds `java [jvm_options] [-cp class_path] (-jar jar_path | class) [args]`, adding nothing", () => {
    expect(javaArgs({ jar_path: "local/app.jar", jvm_options: ["-Xmx256m", "-Dx=y"], args: ["--port", "8080"] })).toEqual(["-Xmx256m", "-Dx=y", "-jar", "local/app.jar", "--port", "8080"]);
    expect(javaArgs({ class: "com.example.Main", class_path: "local/lib/*:local/classes" })).toEqual(["-cp", "local/lib/*:local/classes", "com.example.Main"]);
    // Both given: Nomad passes both (the JVM takes -jar and reads the class as the first argument).
    expect(javaArgs({ class: "Main", jar_path: "app.jar", class_path: "cp" })).toEqual(["-cp", "cp", "-jar", "app.jar", "Main"]);
    expect(javaArgs({ jar_path: "app.jar" })).toEqual(["-jar", "app.jar"]);
  });

  it("needs jar_path or class, in Nomad's words", () => {
    expect(validate({ jar_path: "local/app.jar" })).toEqual([]);
    expect(validate({ class: "Hello", class_path: "local" })).toEqual([]);
    expect(validate({ args: ["x"] })).toEqual(["config: jar_path or class must be specified"]);
    expect(validate({ jar_path: "" })).toEqual(["config: jar_path or class must be specified"]);
  });

  it("names the key of an ill-typed or unknown option", () => {
    expect(validate({ jar_path: 3 })).toContain("config.jar_path must be a string");
    expect(validate({ class: "A", class_path: ["a", "b"] })).toContain("config.class_path must be a string");
    expect(validate({ class: "A", jvm_options: "-Xmx1g" })).toContain("config.jvm_options must be a list of strings");
    expect(validate({ class: "A", args: [1] })).toContain("config.args must be a list of strings");
    expect(validate({ class: "A", command: "java" }).join("\n")).toMatch(/^config\.command is not an option of the java driver \(it knows jar_path, class, class_path, jvm_options, args, cap_add/);
    // The isolation's own keys are known here; their values are the driver's to check.
    expect(validate({ class: "A", cap_add: ["chown"], cap_drop: ["all"], pid_mode: "host", ipc_mode: "private", work_dir: "/local", pids_limit: 100 })).toEqual([]);
  });

  it("the driver checks the isolation's keys too: pid_mode, ipc_mode, work_dir, capabilities, pids_limit", () => {
    const d = new JavaDriver();
    expect(d.validate({ jar_path: "app.jar", pid_mode: "host", ipc_mode: "host" })).toEqual([]);
    expect(d.validate({ jar_path: "app.jar", pid_mode: "shared" })).toEqual(['config.pid_mode must be "private" or "host", got "shared"']);
    expect(d.validate({ jar_path: "app.jar", ipc_mode: 1 })).toEqual(['config.ipc_mode must be "private" or "host", got 1']);
    expect(d.validate({ jar_path: "app.jar", work_dir: "local" })).toEqual(['config.work_dir must be an absolute path: "local"']);
    expect(d.validate({ jar_path: "app.jar", work_dir: "/local/../.." })).toEqual(['config.work_dir must not climb with "..": "/local/../.."']);
    expect(d.validate({ jar_path: "app.jar", cap_add: ["sys_admin"] }).join("\n")).toContain('config.cap_add: "sys_admin" is not a capability');
    expect(d.validate({ jar_path: "app.jar", pids_limit: 0 }).join("\n")).toContain("config.pids_limit must be a whole number");
    expect(d.name).toBe("java");
  });
});

describe("java -version", () => {
  const cases: [string, string, [string, string, string]][] = [
    [
      "OpenJDK 17 (Debian)",
      'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\nOpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)\n',
      ["17.0.15", "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)", "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)"],
    ],
    [
      "Oracle 1.8",
      'java version "1.8.0_202"\nJava(TM) SE Runtime Environment (build 1.8.0_202-b08)\nJava HotSpot(TM) 64-Bit Server VM (build 25.202-b08, mixed mode)\n',
      ["1.8.0_202", "Java(TM) SE Runtime Environment (build 1.8.0_202-b08)", "Java HotSpot(TM) 64-Bit Server VM (build 25.202-b08, mixed mode)"],
    ],
    [
      "a notice of _JAVA_OPTIONS first, lines indented",
      'Picked up _JAVA_OPTIONS: -Xmx2048m -Xms512m\n\topenjdk version "11.0.1" 2018-10-16\n\tOpenJDK Runtime Environment 18.9 (build 11.0.1+13)\n\tOpenJDK 64-Bit Server VM 18.9 (build 11.0.1+13, mixed mode)',
      ["11.0.1", "OpenJDK Runtime Environment 18.9 (build 11.0.1+13)", "OpenJDK 64-Bit Server VM 18.9 (build 11.0.1+13, mixed mode)"],
    ],
    [
      "OpenJDK on CentOS 7 (no quotes)",
      "openjdk 11.0.11 2021-04-20 LTS\nOpenJDK Runtime Environment 18.9 (build 11.0.11+9-LTS)\nOpenJDK 64-Bit Server VM 18.9 (build 11.0.11+9-LTS, mixed mode, sharing)",
      ["11.0.11", "OpenJDK Runtime Environment 18.9 (build 11.0.11+9-LTS)", "OpenJDK 64-Bit Server VM 18.9 (build 11.0.11+9-LTS, mixed mode, sharing)"],
    ],
    [
      "Eclipse OpenJ9 (more lines)",
      'openjdk version "1.8.0_192"\nOpenJDK Runtime Environment (build 1.8.0_192-b12_openj9)\nEclipse OpenJ9 VM (build openj9-0.11.0, JRE 1.8.0 Linux amd64-64-Bit Compressed References\n20181107_95 (JIT enabled, AOT enabled)\nOpenJ9 - 090ff9dcd',
      ["1.8.0_192", "OpenJDK Runtime Environment (build 1.8.0_192-b12_openj9)", "Eclipse OpenJ9 VM (build openj9-0.11.0, JRE 1.8.0 Linux amd64-64-Bit Compressed References"],
    ],
  ];
  for (const [name, output, [version, runtime, vm]] of cases) {
    it(`reads ${name}`, () => {
      expect(parseJavaVersion(output)).toEqual({ version, runtime, vm });
    });
  }

  it("reads nothing of an answer that is not three lines", () => {
    expect(parseJavaVersion("unexpected java -version output")).toBeUndefined();
    expect(parseJavaVersion("")).toBeUndefined();
  });
});
