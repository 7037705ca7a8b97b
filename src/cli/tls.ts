import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { errorMessage, type DialTls } from "../structs/index.js";
import { flagBool, flagValues, UsageError, type Parsed } from "./args.js";

/** The TLS flags every command that talks to the API takes, as Nomad's CLI names them. */
export const TLS_FLAGS = {
  "ca-cert": { value: true },
  "client-cert": { value: true },
  "client-key": { value: true },
  "tls-server-name": { value: true },
  "tls-skip-verify": { value: false },
} as const;

export const TLS_HELP = `  -ca-cert FILE       the CA the API's certificate must be signed by (default: $RUCHE_CACERT,
                      $NOMAD_CACERT, else $RUCHE_DATA_DIR/tls/ca.pem when it exists)
  -client-cert FILE   a client certificate for mutual TLS ($RUCHE_CLIENT_CERT, $NOMAD_CLIENT_CERT)
  -client-key FILE    its key ($RUCHE_CLIENT_KEY, $NOMAD_CLIENT_KEY)
  -tls-server-name N  the name the API's certificate must carry, when not the address's host
                      ($RUCHE_TLS_SERVER_NAME, $NOMAD_TLS_SERVER_NAME)`;

function truthy(v: string | undefined): boolean {
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

function readPem(file: string, what: string, cwd: string): string {
  try {
    return readFileSync(resolve(cwd, file), "utf8");
  } catch (err) {
    throw new UsageError(`${what} ${file}: ${errorMessage(err)}`);
  }
}

/**
 * The TLS a command talks to the API with: the CA from -ca-cert, RUCHE_CACERT, NOMAD_CACERT,
 * or, on a server, the cluster's CA in RUCHE_DATA_DIR (paths from `cwd`); a client certificate and key for
 * mutual TLS; the name to check. Undefined when none is given (plain HTTP, or HTTPS checked
 * against the system's CAs for an https:// address). `-tls-skip-verify` (NOMAD_SKIP_VERIFY)
 * is refused: a client that does not check the server's certificate hands its token to
 * whoever answers.
 */
export function cliTls(p: Parsed, env: Readonly<Record<string, string | undefined>>, cwd: string): DialTls | undefined {
  if (flagBool(p, "tls-skip-verify") || truthy(env.NOMAD_SKIP_VERIFY) || truthy(env.RUCHE_SKIP_VERIFY)) {
    throw new UsageError(
      "-tls-skip-verify (NOMAD_SKIP_VERIFY) is refused: a client that does not check the API's certificate sends its token to whoever answers. Give the cluster's CA with -ca-cert or RUCHE_CACERT (on a server it is DATA_DIR/tls/ca.pem)",
    );
  }
  const one = (flag: string, ...vars: string[]): string | undefined => flagValues(p, flag).at(-1) ?? vars.map((v) => env[v]).find((v) => v !== undefined && v !== "");
  let caFile = one("ca-cert", "RUCHE_CACERT", "NOMAD_CACERT");
  const dataDir = env.RUCHE_DATA_DIR;
  if (caFile === undefined && dataDir !== undefined && dataDir !== "" && existsSync(resolve(cwd, dataDir, "tls", "ca.pem"))) caFile = join(dataDir, "tls", "ca.pem");
  const certFile = one("client-cert", "RUCHE_CLIENT_CERT", "NOMAD_CLIENT_CERT");
  const keyFile = one("client-key", "RUCHE_CLIENT_KEY", "NOMAD_CLIENT_KEY");
  const serverName = one("tls-server-name", "RUCHE_TLS_SERVER_NAME", "NOMAD_TLS_SERVER_NAME");
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError(certFile === undefined ? "-client-key needs -client-cert, the certificate it is the key of" : "-client-cert needs -client-key, its key");
  if (caFile === undefined && certFile === undefined && serverName === undefined) return undefined;
  return {
    ...(caFile === undefined ? {} : { ca: readPem(caFile, "-ca-cert", cwd) }),
    ...(certFile === undefined ? {} : { cert: readPem(certFile, "-client-cert", cwd) }),
    ...(keyFile === undefined ? {} : { key: readPem(keyFile, "-client-key", cwd) }),
    ...(serverName === undefined ? {} : { serverName }),
  };
}
