import { describe, expect, it } from "vitest";
import { parseCommandConfig, validateCommandConfig } from "./config.js";

describe("command config", () => {
  it("names each key that is wrong, including one the driver does not know", () => {
    expect(validateCommandConfig({ command: "/bin/true", args: ["-x"] }, "exec")).toEqual([]);
    expect(validateCommandConfig({ command: " ", args: [1], pid_mode: "host" }, "exec")).toEqual([
      "config.command must not be empty",
      "config.args must be a list of strings",
      "config.pid_mode is not an option of the exec driver (it knows command, args)",
    ]);
  });

  it("parses a good config and throws the problems of a bad one", () => {
    expect(parseCommandConfig({ command: "sleep" }, "raw_exec")).toEqual({ command: "sleep", args: [] });
    expect(() => parseCommandConfig({}, "raw_exec")).toThrow("config.command is required");
  });
});
