/**
 * Every `template` block of the Nomad job files of test/fixtures/nomad-corpus that Ruche
 * validates renders: the file is read as `ruche job validate` reads it, and each template
 * is rendered with fixture data for whatever it reads (a key's value, two instances of a
 * service, a variable), the way the node renders it once its reads are answered.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseJob } from "../../jobspec/index.js";
import type { Job } from "../../structs/index.js";
import type { Dep, HealthService, NomadService } from "./deps.js";
import { NomadVarItem } from "./deps.js";
import { compileTemplate, renderTemplate } from "./render.js";
import { CORPUS_DIR, corpusInputs } from "../../../test/jobspec/nomad-corpus-inputs.js";

const dir = CORPUS_DIR;

/**
 * Templates that consul-template refuses too, with why: the corpus keeps every file of a
 * repository, and these carry an Ansible variable left in their data; and one that reads a
 * Vault secret in a job without a `vault` block (Nomad's consul-template has no Vault token
 * for it; Ruche's renderer does not read Vault at all).
 */
const REFUSED: Readonly<Record<string, string>> = {
  "brucellino-nomad-jobs__observability-plane-grafana.nomad grafana/grafana template 1": "Error: line 1: secret: secret: Ruche does not run Vault: give the task its secrets with nomadVar or key",
  "suikast42-nomadder__test_deployments-ingress.nomad traefik/traefik template 1": 'Error: line 3: function "base_cert_dir" not defined',
  "suikast42-nomadder__test_deployments-ingress.nomad traefik/traefik template 2": 'Error: line 43: function "base_cert_dir" not defined',
  "suikast42-nomadder__test_deployments-ingress_devmode.nomad traefik/traefik template 1": 'Error: line 42: function "base_cert_dir" not defined',
};

function health(name: string, i: number): HealthService {
  return {
    Node: `node-${i}`,
    NodeID: `id-${i}`,
    Kind: "",
    Address: `10.0.0.${i}`,
    NodeAddress: `10.0.0.${i}`,
    NodeDatacenter: "dc1",
    NodeTaggedAddresses: {},
    NodeMeta: {},
    ServiceMeta: { version: "1" },
    ID: `${name}-${i}`,
    Name: name,
    Namespace: "default",
    Tags: ["urlprefix-/", "v1"],
    Checks: [],
    Status: "passing",
    Port: 8000 + i,
    Weights: { Passing: 1, Warning: 1 },
  };
}

function nomad(name: string, i: number): NomadService {
  return { ID: `_nomad-task-${i}-${name}`, Name: name, Namespace: "default", Node: `node-${i}`, Datacenter: "dc1", JobID: "job", AllocID: `alloc-${i}`, Tags: ["v1"], Address: `10.0.1.${i}`, Port: 9000 + i };
}

/** What the node would have fetched for a dependency. */
function fixture(d: Dep): unknown {
  switch (d.kind) {
    case "kv.block":
    case "kv.get":
      return `value-of-${d.key}`;
    case "kv.list":
      return [];
    case "health.service":
      return [health(d.name, 1), health(d.name, 2)];
    case "catalog.services":
    case "nomad.service.list":
      return [{ Name: "web", Tags: ["v1"] }];
    case "nomad.service":
      return [nomad(d.name, 1), nomad(d.name, 2)];
    case "nomad.var.block":
      return { password: new NomadVarItem("password", "s3cret", d.path) };
    case "nomad.var.list":
      return [];
    case "file":
      return "file content";
    default: {
      const _: never = d;
      return _;
    }
  }
}

/**
 * The task's NOMAD_META_* as its node sets them: the job's, group's and task's meta, and for a
 * parameterized job the meta a dispatch gives (every required and optional key, two words each).
 */
function metaEnv(job: Job, group: Readonly<Record<string, string>>, task: Readonly<Record<string, string>>): Record<string, string> {
  const dispatched = [...(job.ParameterizedJob?.MetaRequired ?? []), ...(job.ParameterizedJob?.MetaOptional ?? [])].map((k): [string, string] => [k, `dispatched ${k}`]);
  const out: Record<string, string> = {};
  for (const [k, v] of [...Object.entries(job.Meta), ...Object.entries(group), ...Object.entries(task), ...dispatched]) out[`NOMAD_META_${k}`] = v;
  return out;
}

const files = readdirSync(dir)
  .filter((f) => /\.(nomad|hcl|json)$/.test(f))
  .sort();

describe("the corpus's templates", () => {
  it("each template of every file that validates renders with data for what it reads", async () => {
    const rendered: string[] = [];
    const failures: string[] = [];
    for (const file of files) {
      const text = readFileSync(new URL(file, dir), "utf8");
      if (!text.includes("template")) continue;
      const r = await parseJob(Buffer.from(text), corpusInputs(file));
      if (!r.ok) continue;
      for (const g of r.job.TaskGroups) {
        for (const t of g.Tasks) {
          for (const [i, tm] of (t.Templates ?? []).entries()) {
            const where = `${file} ${g.Name}/${t.Name} template ${i + 1}`;
            try {
              const c = compileTemplate(tm.EmbeddedTmpl, { left: tm.LeftDelim, right: tm.RightDelim, errMissingKey: tm.ErrMissingKey });
              const brain = new Map<string, unknown>();
              const env = { NOMAD_ALLOC_ID: "8f1a2b3c-0000-0000-0000-000000000000", NOMAD_ALLOC_DIR: "/alloc", NOMAD_TASK_NAME: t.Name, NOMAD_REGION: "global", NOMAD_ALLOC_NAME: `${r.job.ID}.${g.Name}[0]`, NOMAD_SHORT_ALLOC_ID: "8f1a2b3c", ...metaEnv(r.job, g.Meta, t.Meta) };
              let out = renderTemplate(c, { brain, env });
              for (let round = 0; !out.ok && round < 5; round++) {
                for (const [name, dep] of out.deps) if (!brain.has(name)) brain.set(name, fixture(dep));
                out = renderTemplate(c, { brain, env });
              }
              if (!out.ok) failures.push(`${where}: still missing ${out.missing.join(", ")}`);
              else rendered.push(where);
            } catch (err) {
              if (REFUSED[where] !== String(err)) failures.push(`${where}: ${String(err)}`);
            }
          }
        }
      }
    }
    if (process.env.SHOW_TEMPLATES === "1") process.stdout.write(`${rendered.join("\n")}\n`);
    expect(failures).toEqual([]);
    // The corpus's templates the jobspec accepts: at least the 13 files that validate with them.
    expect(rendered.length).toBeGreaterThanOrEqual(13);
  });
});
