/**
 * What a user gives when reading the corpus's files (test/fixtures/nomad-corpus): the
 * `-var` values for the variables a file declares without a default, and the directory
 * `file()` reads from — the job file's own, as the CLI reads it: the files a job reads are
 * kept under files/<job file>/ at the paths it names.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const CORPUS_DIR = new URL("../fixtures/nomad-corpus/", import.meta.url);

export const CORPUS_VARS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "nomad__e2e-e2eutil-input-restart-node.nomad": { nodeID: "9bd5bc51-7b1a-4b8d-a3c4-7e2f2c1d1e1a" },
  "nomad__e2e-task_schedule-input-schedule.nomad.hcl": { start: "0 8 * * *", end: "0 17 * * *" },
  "nomad__e2e-docker-input-docker_config.hcl": { registry_address: "localhost:5000", user: "nobody" },
  "brucellino-nomad-jobs__minio.nomad": { root_username: "minioadmin", root_password: "minioadmin123" },
  "brucellino-nomad-jobs__qa-api.nomad": { ghcr_token: "ghp_example" },
  "brucellino-nomad-jobs__mailman-mailman.nomad.hcl": { secret_key: "changeme", hyperkitty_api_key: "changeme", mailman_user: "admin", mailman_pass: "changeme" },
};

/** The parse options a user's command line gives for a corpus file: its -var values and the directory file() reads. */
export function corpusInputs(file: string): { file: string; fileBase: string; vars?: Readonly<Record<string, string>> } {
  const beside = new URL(`files/${file}/`, CORPUS_DIR);
  const vars = CORPUS_VARS[file];
  return { file, fileBase: fileURLToPath(existsSync(beside) ? beside : CORPUS_DIR), ...(vars === undefined ? {} : { vars }) };
}
