import { parseDuration } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, confirm, DETACH_FLAG, YES_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { newDrainWatch, shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { monitorDrain } from "../monitor.js";
import { resolveNodeOrSelf } from "../resolve.js";

export const usage = `Usage: ruche node drain [options] -enable|-disable|-monitor NODE|-self

  Drains a node (its ID, the start of it, or its name): it takes no new work, and its
  allocations move to other nodes, a few at a time as each group's migrate block
  allows, all at once when the deadline passes. Then follows the drain until the
  node's allocations have stopped. -disable ends a drain.

Options:
  -address ADDR     the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -enable           start draining the node
  -disable          stop draining it; it becomes eligible again unless -keep-ineligible
  -monitor          follow the node's drain under way, changing nothing
  -self             the node of the agent at -address, instead of NODE
  -deadline D       how long allocations may take to move before they are stopped all
                    at once (default 1h)
  -no-deadline      no deadline: allocations move only as fast as migrate allows
  -force            stop every allocation now (a deadline of zero)
  -ignore-system    leave the allocations of system jobs running
  -keep-ineligible  with -disable, leave the node ineligible for new work
  -detach           return once the drain is set
  -yes              do not ask for confirmation when NODE is not a whole ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, {
    ...API_FLAGS,
    ...DETACH_FLAG,
    ...YES_FLAG,
    enable: { value: false },
    disable: { value: false },
    deadline: { value: true },
    "no-deadline": { value: false },
    force: { value: false },
    "ignore-system": { value: false },
    "keep-ineligible": { value: false },
    monitor: { value: false },
    self: { value: false },
  });
  const enable = flagBool(p, "enable");
  const monitor = flagBool(p, "monitor");
  if (monitor && (enable || flagBool(p, "disable"))) throw new UsageError("-monitor goes alone: it follows a drain, it does not start or end one");
  if (monitor) return monitorOnly(p, io);
  if (enable === flagBool(p, "disable")) throw new UsageError("give one of -enable or -disable");
  const deadline = drainDeadline(p);
  if (!enable && (deadline !== undefined || flagBool(p, "ignore-system"))) throw new UsageError("-deadline, -no-deadline, -force and -ignore-system go with -enable");
  if (enable && flagBool(p, "keep-ineligible")) throw new UsageError("-keep-ineligible goes with -disable");
  const api = apiClient(p, io);
  const { node, exact } = await resolveNodeOrSelf(api, p.positional, flagBool(p, "self"));
  const id = p.positional[0] ?? node.ID;
  const verb = enable ? "enable" : "disable";
  const question = `Are you sure you want to ${verb} drain mode for node "${node.ID}" (${node.Name})?`;
  if (!exact && !(await confirm(p, io, question, `"${id}" is not a whole node ID; it names node "${node.ID}" (${node.Name})`))) {
    throw new CommandError(`Cancelling drain ${verb}`);
  }
  if (!enable) {
    await api.drain(node.ID, null, !flagBool(p, "keep-ineligible"));
    io.out(`Node "${shortId(node.ID)}" drain strategy unset\n`);
    return Exit.Ok;
  }
  const before = (await api.nodeAllocations(node.ID)).body;
  await api.drain(node.ID, { Deadline: deadline ?? HOUR_NS, IgnoreSystemJobs: flagBool(p, "ignore-system") });
  io.out(`Node "${shortId(node.ID)}" drain strategy set\n`);
  if (flagBool(p, "detach")) return Exit.Ok;
  await monitorDrain(api, node.ID, newDrainWatch(before), io);
  return Exit.Ok;
}

/** `-monitor`: follows the node's drain until its allocations have moved, as Nomad's `node drain -monitor`. */
async function monitorOnly(p: Parameters<typeof flagBool>[0], io: IO): Promise<number> {
  if (flagValues(p, "deadline").length > 0 || flagBool(p, "no-deadline") || flagBool(p, "force") || flagBool(p, "ignore-system") || flagBool(p, "keep-ineligible") || flagBool(p, "detach")) {
    throw new UsageError("-monitor takes none of -deadline, -no-deadline, -force, -ignore-system, -keep-ineligible and -detach");
  }
  const api = apiClient(p, io);
  const { node } = await resolveNodeOrSelf(api, p.positional, flagBool(p, "self"));
  if (node.DrainStrategy == null) {
    io.out(`No drain strategy set for node ${node.ID}\n`);
    return Exit.Ok;
  }
  await monitorDrain(api, node.ID, newDrainWatch((await api.nodeAllocations(node.ID)).body), io);
  return Exit.Ok;
}

const HOUR_NS = 3_600_000_000_000;

/** The drain deadline in ns as the API takes it (0: none, -1: now), or undefined when not given. */
function drainDeadline(p: Parameters<typeof flagBool>[0]): number | undefined {
  const given = [flagValues(p, "deadline").length > 0, flagBool(p, "no-deadline"), flagBool(p, "force")].filter(Boolean).length;
  if (given > 1) throw new UsageError("give only one of -deadline, -no-deadline and -force");
  if (flagBool(p, "force")) return -1;
  if (flagBool(p, "no-deadline")) return 0;
  const text = flagValues(p, "deadline").at(-1);
  if (text === undefined) return undefined;
  const ns = parseDuration(text);
  if (ns === undefined || ns <= 0) throw new UsageError(`-deadline must be a duration such as "30m" or "1h", got "${text}"`);
  return ns;
}
