import { builtinModules } from "node:module";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * docs/DESIGN.md's rooms and the rooms each may import (structs, the one data model, for all
 * but itself). A file in src/A/ imports another room B only through src/B/index.ts. api/
 * does not import scheduler/ (the placement sentence is built in structs/), and cli/ reaches
 * the servers through apiclient/ alone.
 */
const MAY_IMPORT = {
  structs: [],
  jobspec: ["structs"],
  scheduler: ["structs"],
  state: ["structs"],
  server: ["structs", "scheduler", "state"],
  client: ["structs", "drivers", "apiclient", "pki"],
  drivers: ["structs"],
  catalog: ["structs", "state"],
  dns: ["structs", "catalog"],
  router: ["structs", "apiclient", "catalog"],
  etcd: ["structs", "state", "catalog"],
  api: ["structs", "jobspec", "state", "server", "catalog", "dns", "router", "pki", "identity"],
  apiclient: ["structs"],
  pki: ["structs"],
  identity: ["structs"],
  cli: ["structs", "apiclient", "jobspec", "pki"],
  agent: ["structs", "jobspec", "scheduler", "state", "server", "client", "drivers", "catalog", "dns", "router", "api", "apiclient", "pki", "identity", "etcd"],
};
/** Every room; no room imports ui/, the dashboard, which talks to the API over HTTP (its own rule is below). */
const ROOMS = [...Object.keys(MAY_IMPORT), "ui"];
/** Rooms whose tests keep the room's arrows: pure code, tested without I/O. */
const PURE = ["structs", "jobspec", "scheduler"];
/** A file may break an arrow, and says why here: `ruche agent` is the command that runs the agent; `ruche sim` runs simulated nodes. */
const EXCEPTIONS = {
  "src/cli/commands/agent.ts": ["agent"],
  "src/cli/commands/sim.ts": ["client"],
  // The CLI tests' cluster (a server, its API and a node agent in the test's process), used by tests only.
  "src/cli/testing.ts": ["agent", "api", "catalog", "client", "drivers", "server", "state"],
  // The router's tests' harness: the router over a real store's catalog, used by tests only.
  "src/router/testing.ts": ["state"],
};
/** How deep under src/ a file may be for the rule to see its imports (src/ui/app/pages/ is 3). */
const MAX_DEPTH = 5;

/**
 * The import patterns a file `depth` folders under src/ in `room` may not use: a relative
 * import with exactly `depth` "../" reaches src/, so the room it names follows.
 */
function boundaryPatterns(room, depth, extra = []) {
  const up = `(\\.\\./){${depth}}`;
  const allowed = [...MAY_IMPORT[room], ...extra];
  const others = ROOMS.filter((r) => r !== room);
  const forbidden = others.filter((r) => !allowed.includes(r));
  const reached = others.filter((r) => allowed.includes(r));
  const patterns = forbidden.map((r) => ({
    regex: `^${up}${r}(/|$)`,
    caseSensitive: true,
    message: `${room}/ may not import ${r}/: it may import ${allowed.length === 0 ? "nothing of ours" : allowed.map((a) => `${a}/`).join(", ")} (docs/DESIGN.md, "The rooms").`,
  }));
  if (reached.length > 0) {
    patterns.push({
      regex: `^${up}(${reached.join("|")})/(?!index\\.js$)`,
      caseSensitive: true,
      message: "Import another folder through its index.ts, its public face, not a file inside it.",
    });
  }
  return patterns;
}

/** The boundary rule for every room at every depth, for its sources and then its tests. */
function boundaries() {
  const rule = (room, depth, extra) => ({ "@typescript-eslint/no-restricted-imports": ["error", { patterns: boundaryPatterns(room, depth, extra) }] });
  const configs = [];
  for (const room of Object.keys(MAY_IMPORT)) {
    for (let depth = 1; depth <= MAX_DEPTH; depth++) {
      const dir = `src/${room}/${"*/".repeat(depth - 1)}`;
      configs.push({ files: [`${dir}*.ts`], rules: rule(room, depth) });
      // Tests run the real neighbours (a client test runs a server over a real store) and
      // use the rooms' test tools (the simulated node, the in-process transport, the mock
      // driver, the API's router), which are no part of any public face.
      if (!PURE.includes(room)) configs.push({ files: [`${dir}*.test.ts`], rules: { "@typescript-eslint/no-restricted-imports": "off" } });
    }
  }
  for (const [file, extra] of Object.entries(EXCEPTIONS)) {
    const [, room = "", ...rest] = file.split("/");
    configs.push({ files: [file], rules: rule(room, rest.length, extra) });
  }
  return configs;
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "test/fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "@typescript-eslint/no-unnecessary-condition": ["error", { allowConstantLoopConditions: true }],
      "@typescript-eslint/consistent-type-exports": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-syntax": ["error", { selector: "TSEnumDeclaration", message: "Use an `as const` object and a union type." }],
    },
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
  ...boundaries(),
  {
    // The dashboard runs in the browser and talks to the API over HTTP: of the rest of Ruche it takes types only.
    files: ["src/ui/app/**"],
    rules: {
      "no-restricted-globals": ["error", "Buffer", "process", "require", "__dirname"],
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: [{ group: ["node:*", ...builtinModules], message: "The dashboard runs in the browser." }, { group: ["../../*"], allowTypeImports: true, message: "The dashboard uses the rest of Ruche only through the HTTP API: import its types only." }] }],
    },
  },
  { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
);
