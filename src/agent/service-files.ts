import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseRegistration, type RegisteredService, type ServiceRegistry } from "../catalog/index.js";
import { isDeepStrictEqual } from "node:util";
import { errorMessage } from "../structs/index.js";
import { formatDiagnostic, parseHclObject } from "../jobspec/index.js";

/** What one load of the config dir did. */
export interface ServiceFilesResult {
  registered: string[];
  deregistered: string[];
  unchanged: string[];
}

/** A config dir that cannot be loaded: every problem, each naming its file (and field). */
export class ServiceFilesError extends Error {
  constructor(readonly problems: string[]) {
    super(`service definitions not loaded: ${problems.join("; ")}`);
  }
}

/** Largest definition file read; a config dir holds small hand-written files. */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Service definition files in the agent's config dir, as Consul reads them: each `*.json`
 * file holds `{"service": {...}}` or `{"services": [{...}, ...]}`, and each `*.hcl` file
 * the same in HCL (`service { name = "web" ... }`, `services { ... }` once or more), with the fields of
 * `PUT /v1/agent/service/register` (keys in any case, `snake_case` too). Read at start and
 * on every reload (`ruche agent reload`, SIGHUP): services of files added or changed are
 * registered, those of files removed are deregistered, and the rest is left alone, so
 * their checks keep their status. A reload with a bad file changes nothing and says what
 * is wrong where. Other files in the dir are ignored.
 */
export class ServiceFiles {
  constructor(
    private readonly dir: string,
    private readonly registry: ServiceRegistry,
    private readonly nodeId: () => string,
    private readonly now: () => number = Date.now,
    /** Script checks in the dir's files run (Consul's `enable_local_script_checks`, off by default). */
    private readonly allowScriptChecks = false,
  ) {}

  async load(): Promise<ServiceFilesResult> {
    const wanted = await this.read();
    const node = this.nodeId();
    const had = new Map(this.registry.list().filter((s) => s.NodeID === node && s.Source === "config").map((s) => [s.ID, s]));
    const out: ServiceFilesResult = { registered: [], deregistered: [], unchanged: [] };
    for (const svc of wanted) {
      const prev = had.get(svc.ID);
      had.delete(svc.ID);
      if (prev !== undefined && sameDefinition(prev, svc)) {
        out.unchanged.push(svc.ID);
        continue;
      }
      await this.registry.register(svc);
      out.registered.push(svc.ID);
    }
    for (const id of had.keys()) {
      await this.registry.deregister(node, id);
      out.deregistered.push(id);
    }
    return out;
  }

  /** Every service of every file, or every problem found; nothing is registered from a dir with a problem. */
  private async read(): Promise<RegisteredService[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith(".json") || n.endsWith(".hcl")).sort();
    } catch (err) {
      throw new ServiceFilesError([`${this.dir}: ${errorMessage(err)}`]);
    }
    const problems: string[] = [];
    const services: RegisteredService[] = [];
    const seen = new Map<string, string>();
    for (const name of names) {
      const path = join(this.dir, name);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (err) {
        problems.push(`${path}: ${errorMessage(err)}`);
        continue;
      }
      if (Buffer.byteLength(text) > MAX_FILE_BYTES) {
        problems.push(`${path}: larger than ${MAX_FILE_BYTES} bytes`);
        continue;
      }
      let doc: unknown;
      if (name.endsWith(".hcl")) {
        const r = await parseHclObject(text, path);
        if (!r.ok) {
          problems.push(...r.diagnostics.map(formatDiagnostic));
          continue;
        }
        doc = r.value;
      } else {
        try {
          doc = JSON.parse(text);
        } catch (err) {
          problems.push(`${path}: not JSON: ${errorMessage(err)}`);
          continue;
        }
      }
      const defs = definitions(doc);
      if (typeof defs === "string") {
        problems.push(`${path}: ${defs}`);
        continue;
      }
      defs.forEach(({ at, body }) => {
        const parsed = parseRegistration(body, { nodeId: this.nodeId(), now: this.now(), allowScriptChecks: this.allowScriptChecks, source: "local" });
        if (!parsed.ok) {
          problems.push(...parsed.errors.map((e) => `${path}: ${at}.${e}`));
          return;
        }
        const other = seen.get(parsed.service.ID);
        if (other !== undefined) {
          problems.push(`${path}: ${at}: service ID "${parsed.service.ID}" is also defined in ${other}`);
          return;
        }
        seen.set(parsed.service.ID, path);
        services.push({ ...parsed.service, Source: "config" });
      });
    }
    if (problems.length > 0) throw new ServiceFilesError(problems);
    return services;
  }
}

/** The service objects of a definition file, each with where it sits, or what is wrong with the file. */
function definitions(doc: unknown): { at: string; body: unknown }[] | string {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return `must be a JSON object with "service" or "services"`;
  const d = doc as Record<string, unknown>;
  const out: { at: string; body: unknown }[] = [];
  if (d.service !== undefined) out.push({ at: "service", body: d.service });
  if (d.services !== undefined) {
    if (!Array.isArray(d.services)) return `"services" must be a list of service objects`;
    d.services.forEach((body: unknown, i) => out.push({ at: `services[${i}]`, body }));
  }
  if (out.length === 0) return `holds neither "service" nor "services"`;
  return out;
}

/** Whether a file's definition is the one already registered (statuses and indexes aside). */
function sameDefinition(a: RegisteredService, b: RegisteredService): boolean {
  const def = (s: RegisteredService): unknown => ({ ...s, CreateIndex: 0, ModifyIndex: 0, Checks: s.Checks.map((c) => ({ ...c, Status: "", Output: "", StatusTime: 0, LastUpdate: 0 })) });
  return isDeepStrictEqual(def(a), def(b));
}
