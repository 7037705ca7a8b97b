/**
 * Task drivers a Nomad job may name that Ruche's nodes do not have, each with the one-line
 * reason a refusal gives: Nomad's built-in drivers Ruche does not run, and the driver plugins
 * Nomad loads from its plugin directory (Ruche loads none). Any other name is an unknown
 * driver (Nomad would take the job and find no node with it; Ruche says so at once).
 */
import { didYouMean } from "./suggest.js";

/** Nomad's own drivers that Ruche's nodes do not run, and what each runs. */
const NOMAD_BUILT_IN: Readonly<Record<string, string>> = {
  qemu: "Nomad's built-in QEMU driver, which runs virtual machines",
  java: "Nomad's built-in Java driver, which runs a jar or class on the node's JVM",
};

/** Task driver plugins in use with Nomad, by the name a job gives, with the repository that publishes each. */
const NOMAD_PLUGINS: Readonly<Record<string, string>> = {
  pledge: "shoenig/nomad-pledge-driver",
  exec2: "hashicorp/nomad-driver-exec2",
  podman: "hashicorp/nomad-driver-podman",
  "containerd-driver": "Roblox/nomad-driver-containerd",
  lxc: "hashicorp/nomad-driver-lxc",
  win_iis: "Roblox/nomad-driver-iis",
  nspawn: "JanMa/nomad-driver-nspawn",
  pot: "bsdpot/nomad-pot-driver",
  "firecracker-task-driver": "cneira/firecracker-task-driver",
  "jail-task-driver": "cneira/jail-task-driver",
};

/** Why a task's `driver`, none of `have` (Ruche's drivers), is refused: one line. */
export function driverNotRunWhy(driver: string, have: readonly string[]): string {
  const list = have.join(", ");
  const builtIn = NOMAD_BUILT_IN[driver];
  if (builtIn !== undefined) return `driver "${driver}" is ${builtIn}; Ruche does not run it (its drivers: ${list})`;
  const plugin = NOMAD_PLUGINS[driver];
  if (plugin !== undefined) return `driver "${driver}" is a task driver plugin (${plugin}) that Nomad loads from its plugin directory; Ruche loads no driver plugins (its drivers: ${list})`;
  return `unknown driver "${driver}"; Ruche has ${list}${didYouMean(driver, have)}`;
}
