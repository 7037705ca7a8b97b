import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { formatKV } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const OPTIONS = `Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   the ACL token to send (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)
  -json           print the API's answer
`;

type CaStatus = { CADigest: string; Trusted: string[]; Rotating: boolean };

function show(io: IO, s: CaStatus, json: boolean, said: string): void {
  if (json) {
    printJson(io, s);
    return;
  }
  io.out(`${said}${formatKV([
    ["CA digest (sha256)", s.CADigest],
    ["Trusted roots", s.Trusted.join(", ")],
    ["Rotation under way", String(s.Rotating)],
  ])}\n`);
}

function command(usage: string, action: "rotate" | "finish" | undefined, said: string): { usage: string; run(argv: readonly string[], io: IO): Promise<number> } {
  return {
    usage,
    async run(argv, io) {
      const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
      positionals(p);
      const { body } = await apiClient(p, io).clusterCa(action);
      show(io, body, flagBool(p, "json"), said);
      return Exit.Ok;
    },
  };
}

export const status = command(
  `Usage: ruche operator tls ca [options]

  Shows the cluster CA: its SHA-256 digest (what join tokens pin), the roots agents trust,
  and whether a rotation is under way.

${OPTIONS}`,
  undefined,
  "",
);

export const rotate = command(
  `Usage: ruche operator tls ca rotate [options]

  Rolls the cluster CA without downtime, as "docker swarm ca --rotate": a new CA, its
  certificate cross-signed by the old one, signs every certificate from now on, and agents
  trust both roots while they renew onto the new one (within a node certificate's
  lifetime, 24 h by default). Join tokens pin the CA: make new ones ("ruche join-token
  create"). When every agent has renewed, end it with "ruche operator tls ca finish".
  Needs a management token.

${OPTIONS}`,
  "rotate",
  "Rotated the cluster CA. Make new join tokens: the ones before pin the old CA.\n\n",
);

export const finish = command(
  `Usage: ruche operator tls ca finish [options]

  Ends a CA rotation: the previous root is no longer trusted, nor a certificate it signed.
  Run it once every agent has renewed its certificate (a node certificate's lifetime after
  "rotate"). Needs a management token.

${OPTIONS}`,
  "finish",
  "The previous CA is no longer trusted.\n\n",
);
