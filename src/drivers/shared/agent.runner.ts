/**
 * A stand-in agent for the kill -9 test of driver.contract.test.ts (not part of Ruche):
 * makes the driver of a contract case, starts one task, prints its handle as one JSON line
 * and stays up until it is killed.
 *
 *   node --import tsx src/drivers/shared/agent.runner.ts <contract.case.ts URL> <TaskSpec JSON>
 */
import type { TaskSpec } from "../driver.js";
import type { DriverContractCase } from "./testing.js";

const [caseUrl, specJson] = process.argv.slice(2);
if (caseUrl === undefined || specJson === undefined) throw new Error("usage: agent.runner.ts <contract.case.ts URL> <TaskSpec JSON>");

const { contractCase } = (await import(caseUrl)) as { contractCase: DriverContractCase };
const handle = await contractCase.make().start(JSON.parse(specJson) as TaskSpec);
process.stdout.write(`${JSON.stringify(handle)}\n`);
setInterval(() => undefined, 60_000);
