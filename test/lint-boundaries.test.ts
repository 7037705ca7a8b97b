/**
 * `npm run lint` refuses an import that breaks the rooms' arrows (docs/DESIGN.md): each case
 * lints a one-import file at a path inside src/ with the project's own eslint.config.js.
 * The file is given to ESLint as text at that path rather than written there, so that no
 * stray file can be left in src/ for the type checker or a concurrent lint to trip on; the
 * type-aware rules are off for it (the boundary rule reads only the import's text), which
 * keeps each case to milliseconds instead of a TypeScript program per file.
 */
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const RULE = "@typescript-eslint/no-restricted-imports";
const eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] });

/** The boundary rule's messages for a file at `path` that imports `from`. */
async function boundaryErrors(path: string, from: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import * as other from "${from}";\n\nexport const probe = other;\n`, { filePath: `${root}${path}` });
  if (result === undefined) throw new Error(`ESLint gave no result for ${path}`);
  const fatal = result.messages.filter((m) => m.fatal === true);
  expect(fatal, `ESLint could not parse the probe ${path}`).toEqual([]);
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

describe("lint: the rooms' arrows", () => {
  it.each([
    ["cli → server", "src/cli/__boundary_probe__.ts", "../server/index.js", "cli/ may not import server/"],
    ["cli → scheduler", "src/cli/__boundary_probe__.ts", "../scheduler/index.js", "cli/ may not import scheduler/"],
    ["cli → server, from a subfolder", "src/cli/commands/__boundary_probe__.ts", "../../server/index.js", "cli/ may not import server/"],
    ["client → state", "src/client/__boundary_probe__.ts", "../state/index.js", "client/ may not import state/"],
    ["scheduler → state", "src/scheduler/__boundary_probe__.ts", "../state/index.js", "scheduler/ may not import state/"],
    ["a scheduler test → state (pure rooms' tests keep the arrows)", "src/scheduler/__boundary_probe__.test.ts", "../state/index.js", "scheduler/ may not import state/"],
    ["router → server", "src/router/__boundary_probe__.ts", "../server/index.js", "router/ may not import server/"],
    ["structs → anything of ours", "src/structs/__boundary_probe__.ts", "../jobspec/index.js", "structs/ may not import jobspec/: it may import nothing of ours"],
    ["drivers → client", "src/drivers/docker/__boundary_probe__.ts", "../../client/index.js", "drivers/ may not import client/"],
    ["api → client", "src/api/routes/__boundary_probe__.ts", "../../client/index.js", "api/ may not import client/"],
    ["anything → the dashboard", "src/api/__boundary_probe__.ts", "../ui/app/types.js", "api/ may not import ui/"],
    ["the agent command → a room other than agent/", "src/cli/commands/agent.ts", "../../server/index.js", "cli/ may not import server/"],
    ["a file inside another room, not its index.ts", "src/api/__boundary_probe__.ts", "../server/server.js", "through its index.ts"],
    ["another room's subfolder index", "src/client/__boundary_probe__.ts", "../drivers/docker/index.js", "through its index.ts"],
    ["the dashboard → a node: module", "src/ui/app/__boundary_probe__.ts", "node:fs", "The dashboard runs in the browser."],
    ["the dashboard → a Node module named without node:", "src/ui/app/__boundary_probe__.ts", "fs", "The dashboard runs in the browser."],
  ])("refuses %s", async (_name, path, from, message) => {
    const errors = await boundaryErrors(path, from);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it.each([
    ["cli → apiclient's index.ts", "src/cli/__boundary_probe__.ts", "../apiclient/index.js"],
    ["cli's agent command → agent's index.ts", "src/cli/commands/agent.ts", "../../agent/index.js"],
    ["api → server's index.ts", "src/api/routes/__boundary_probe__.ts", "../../server/index.js"],
    ["a file of its own room", "src/client/__boundary_probe__.ts", "./alloc-runner.js"],
    ["its own room, from a subfolder", "src/drivers/docker/__boundary_probe__.ts", "../shared/index.js"],
    ["a client test → state and another room's internals (tests run the real neighbours)", "src/client/__boundary_probe__.test.ts", "../state/store.js"],
  ])("allows %s", async (_name, path, from) => {
    expect(await boundaryErrors(path, from)).toEqual([]);
  });
});
