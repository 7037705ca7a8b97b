import { newClusterKey } from "../../pki/index.js";
import { parseArgs } from "../args.js";
import { positionals } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche operator keygen
       ruche operator gossip keyring generate

  Prints a new cluster key: 32 random bytes in base64, as Nomad's "operator keygen" and
  "operator gossip keyring generate" print its gossip key. Give it to every server with
  -encrypt KEY (server { encrypt = "KEY" }) before the first one starts: the servers' shared
  cluster CA keeps its private key in the state encrypted under it (AES-256-GCM). Nothing
  is sent anywhere; keep the key as you keep the servers' data dirs.
`;

export function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, {});
  positionals(p);
  io.out(`${newClusterKey()}\n`);
  return Promise.resolve(Exit.Ok);
}
