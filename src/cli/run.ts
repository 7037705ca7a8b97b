import { closeApiClients } from "./api.js";
import * as aclBootstrap from "./commands/acl-bootstrap.js";
import * as aclPolicy from "./commands/acl-policy.js";
import * as aclToken from "./commands/acl-token.js";
import * as agent from "./commands/agent.js";
import * as agentReload from "./commands/agent-reload.js";
import * as allocExec from "./commands/alloc-exec.js";
import * as catalogService from "./commands/catalog-service.js";
import * as catalogServices from "./commands/catalog-services.js";
import * as allocLogs from "./commands/alloc-logs.js";
import * as allocFs from "./commands/alloc-fs.js";
import * as allocStatus from "./commands/alloc-status.js";
import * as allocChecks from "./commands/alloc-checks.js";
import * as deploymentPause from "./commands/deployment-pause.js";
import * as jobRestart from "./commands/job-restart.js";
import * as system from "./commands/system.js";
import * as deploymentFail from "./commands/deployment-fail.js";
import * as deploymentUnblock from "./commands/deployment-unblock.js";
import * as deploymentList from "./commands/deployment-list.js";
import * as deploymentPromote from "./commands/deployment-promote.js";
import * as deploymentStatus from "./commands/deployment-status.js";
import * as evalStatus from "./commands/eval-status.js";
import * as evalList from "./commands/eval-list.js";
import * as allocStop from "./commands/alloc-stop.js";
import * as allocSignal from "./commands/alloc-signal.js";
import * as allocRestart from "./commands/alloc-restart.js";
import * as jobAllocs from "./commands/job-allocs.js";
import * as jobInit from "./commands/job-init.js";
import * as status from "./commands/status.js";
import * as version from "./commands/version.js";
import { suggest } from "../jobspec/index.js";
import * as jobAction from "./commands/job-action.js";
import * as jobDispatch from "./commands/job-dispatch.js";
import * as jobPeriodicForce from "./commands/job-periodic-force.js";
import * as jobHistory from "./commands/job-history.js";
import * as kv from "./commands/kv.js";
import * as kvLock from "./commands/kv-lock.js";
import * as kvWatch from "./commands/kv-watch.js";
import * as jobInspect from "./commands/job-inspect.js";
import * as jobPlan from "./commands/job-plan.js";
import * as jobPromote from "./commands/job-promote.js";
import * as jobRevert from "./commands/job-revert.js";
import * as jobRun from "./commands/job-run.js";
import * as jobScale from "./commands/job-scale.js";
import * as jobStatus from "./commands/job-status.js";
import * as jobStop from "./commands/job-stop.js";
import * as jobValidate from "./commands/job-validate.js";
import * as namespace from "./commands/namespace.js";
import * as volume from "./commands/volume.js";
import * as variables from "./commands/var.js";
import * as service from "./commands/service.js";
import * as nodeDrain from "./commands/node-drain.js";
import * as nodeEligibility from "./commands/node-eligibility.js";
import * as nodeStatus from "./commands/node-status.js";
import * as sim from "./commands/sim.js";
import * as joinToken from "./commands/join-token.js";
import * as operatorTlsCa from "./commands/operator-tls-ca.js";
import * as operatorKeygen from "./commands/operator-keygen.js";
import * as operatorEtcdList from "./commands/operator-etcd-list.js";
import * as operatorEtcdRemove from "./commands/operator-etcd-remove.js";
import * as operatorScheduler from "./commands/operator-scheduler.js";
import * as serverForceLeave from "./commands/server-force-leave.js";
import * as serverMembers from "./commands/server-members.js";
import * as serverJoin from "./commands/server-join.js";
import { reportError } from "./errors.js";
import { Exit, type IO } from "./io.js";

interface Command {
  usage: string;
  run(argv: readonly string[], io: IO): Promise<number>;
}

/** Command words → command. Aliases sit beside the full form, as in Nomad (`ruche run`, `ruche status`). */
const COMMANDS: Readonly<Record<string, Command>> = {
  "acl bootstrap": aclBootstrap,
  "acl policy apply": aclPolicy.apply,
  "acl policy list": aclPolicy.list,
  "acl policy info": aclPolicy.info,
  "acl policy delete": aclPolicy.del,
  "acl token create": aclToken.create,
  "acl token list": aclToken.list,
  "acl token info": aclToken.info,
  "acl token self": aclToken.self,
  "acl token update": aclToken.update,
  "acl token delete": aclToken.del,
  agent,
  "agent reload": agentReload,
  "namespace list": namespace.list,
  "namespace status": namespace.status,
  "namespace apply": namespace.apply,
  "namespace delete": namespace.del,
  "volume create": volume.create,
  "volume register": volume.register,
  "volume status": volume.status,
  "volume delete": volume.del,
  "job run": jobRun,
  run: jobRun,
  "job plan": jobPlan,
  plan: jobPlan,
  "job status": jobStatus,
  status,
  "job init": jobInit,
  init: jobInit,
  "job allocs": jobAllocs,
  "eval list": evalList,
  "alloc stop": allocStop,
  "alloc signal": allocSignal,
  "alloc restart": allocRestart,
  "alloc checks": allocChecks,
  "job restart": jobRestart,
  "deployment pause": deploymentPause.pause,
  "deployment resume": deploymentPause.resume,
  "system gc": system.gc,
  "system reconcile summaries": system.reconcileSummaries,
  version,
  "job stop": jobStop,
  stop: jobStop,
  "job history": jobHistory,
  "job revert": jobRevert,
  "job promote": jobPromote,
  "job scale": jobScale,
  "job dispatch": jobDispatch,
  "job action": jobAction,
  action: jobAction,
  "job periodic force": jobPeriodicForce,
  "job validate": jobValidate,
  validate: jobValidate,
  "job inspect": jobInspect,
  inspect: jobInspect,
  "deployment list": deploymentList,
  "deployment status": deploymentStatus,
  "deployment promote": deploymentPromote,
  "deployment fail": deploymentFail,
  "deployment unblock": deploymentUnblock,
  "eval status": evalStatus,
  "alloc status": allocStatus,
  "alloc logs": allocLogs,
  "alloc exec": allocExec,
  "alloc fs": allocFs,
  "node status": nodeStatus,
  "catalog services": catalogServices,
  "catalog service": catalogService,
  "kv get": kv.get,
  "kv put": kv.put,
  "kv delete": kv.del,
  "kv list": kv.list,
  "kv watch": kvWatch,
  "kv lock": kvLock,
  "var get": variables.get,
  "var put": variables.put,
  "var list": variables.list,
  "var purge": variables.purge,
  "service list": service.list,
  "service info": service.info,
  "service delete": service.del,
  "node drain": nodeDrain,
  "node eligibility": nodeEligibility,
  sim,
  "server members": serverMembers,
  "server force-leave": serverForceLeave,
  "server join": serverJoin,
  "operator etcd list": operatorEtcdList,
  "operator etcd remove": operatorEtcdRemove,
  "operator scheduler get-config": operatorScheduler.get,
  "operator scheduler set-config": operatorScheduler.set,
  "join-token create": joinToken.create,
  "join-token rotate": joinToken.rotate,
  "join-token list": joinToken.list,
  "join-token revoke": joinToken.revoke,
  "operator tls ca": operatorTlsCa.status,
  "operator tls ca rotate": operatorTlsCa.rotate,
  "operator tls ca finish": operatorTlsCa.finish,
  "operator keygen": operatorKeygen,
  "operator gossip keyring generate": operatorKeygen,
};

const USAGE = `Usage: ruche <command> [args]

Ruche runs containers and processes on a cluster of machines, finds them
again, and routes traffic to them.

Commands:
  acl bootstrap               make the first ACL token, a management token (once)
  acl policy apply NAME FILE  create or replace an ACL policy from a rules file
  acl policy list|info|delete list, show or delete ACL policies
  acl token create            make an ACL token (-name, -type, -policy, -ttl)
  acl token list|info|self|update|delete
                              list, show, change or delete ACL tokens
  agent -dev                  run a server and a node agent on this machine
  agent reload                read the agent's config dir (service definitions) again
  job run FILE                submit a job and follow its rollout (alias: run)
  job plan FILE               show what submitting a job would change (alias: plan)
  job status [ID]             list the jobs, or show one (-short: its header only)
  status [ID]                 list the jobs, or show the job, allocation, node,
                              evaluation or deployment an ID (or its start) names
  job init [-short] [FILE]    write Nomad's example job to example.nomad.hcl (alias: init)
  job allocs ID               list a job's allocations
  job stop ID                 stop a job (alias: stop)
  job history ID              list a job's versions
  job revert ID VERSION       run an earlier version of a job again
  job promote ID              promote the canaries of a job's latest deployment
  job restart JOB             restart (or -reschedule) a job's allocations in batches
  job scale ID GROUP COUNT    set how many allocations a group runs
  job dispatch JOB [INPUT]    run a parameterized job with -meta k=v and a payload
  job action -job J ACTION    run a task's declared action in one of its allocations (alias: action)
  job periodic force JOB      launch a child of a periodic job now
  job validate FILE           check a job file and report every mistake in it
  job inspect ID              print a job as the servers hold it (JSON);
                              with --local FILE, as read from a file
  deployment list             list the deployments
  deployment status ID        show a deployment
  deployment promote ID       promote a deployment's canaries
  deployment fail ID          mark a deployment as failed
  deployment pause|resume ID  hold a deployment's rollout, or let it go on
  eval status ID              show an evaluation and why it could not place
  eval list                   list the evaluations (-job, -status)
  alloc status ID             show an allocation and its tasks' events
  alloc logs ALLOC [TASK]     print a task's output (-f to follow, -stderr)
  alloc exec ALLOC CMD...     run a command inside a running task (-i -t: a terminal session)
  alloc fs ALLOC [PATH]       list or print the files of an allocation's directory
  alloc stop ALLOC            stop an allocation; the scheduler places a replacement
  alloc restart ALLOC [TASK]  restart an allocation's tasks in place
  alloc signal ALLOC [TASK]   send a signal (-s SIG) to an allocation's tasks
  alloc checks ALLOC          show the latest result of each of an allocation's checks
  namespace list|status NAME  list the namespaces, or show one
  namespace apply NAME        create or update a namespace (-description D)
  namespace delete NAME       delete a namespace with no live job in it
  volume create|register FILE make (or offer) a dynamic host volume from a specification
  volume status [ID]          list the dynamic host volumes, or show one
  volume delete ID            delete a dynamic host volume no allocation claims
  catalog services            list the services of the catalog and their tags
  catalog service NAME        show a service's instances and their health
  kv get|put|delete|list KEY  read and write the key/value store
  kv watch KEY                print a key's value each time it changes
  kv lock PREFIX CMD...       run a command while holding a lock
  var get|put|list|purge PATH read and write Nomad variables (put PATH k=v ...)
  service list|info|delete    Nomad's view of the catalog's services
  node status [NODE]          list the nodes, or show one
  node drain -enable NODE     move a node's allocations away (-self: this agent's node)
  node eligibility -disable NODE
                              stop placing new work on a node
  sim -nodes N                run N simulated nodes against the servers (-servers)
  server members              list the servers, the leader, each one's etcd member
  server force-leave NAME     remove a server from the cluster
  server join ADDR...         join other regions' servers (federation)
  operator etcd list          list the etcd members: leader, size, revision
  operator etcd remove NAME   remove an etcd member (by name or ID)
  join-token create           make a token a new node joins with (-role client|server)
  join-token list|rotate|revoke
                              list, replace or revoke the join tokens
  operator tls ca [rotate|finish]
                              show, roll (cross-signed) or finish rolling the cluster CA
  operator keygen             print a new cluster key for the servers' -encrypt
  system gc                   collect terminal evaluations, allocations and jobs now
  system reconcile summaries  Nomad's summary repair (nothing to do in Ruche)
  version                     print Ruche's version (also -version, --version)

Commands that talk to the servers take -address ADDR (default: $RUCHE_ADDR,
else $NOMAD_ADDR, else 127.0.0.1:4646; https://HOST:PORT for an agent with TLS),
-ca-cert FILE ($RUCHE_CACERT, $NOMAD_CACERT; on a server $RUCHE_DATA_DIR/tls/ca.pem),
-client-cert FILE and -client-key FILE (mutual TLS), -tls-server-name NAME, and
-token SECRET, the ACL token to send ($RUCHE_TOKEN, else $NOMAD_TOKEN), -region R
($RUCHE_REGION, $NOMAD_REGION) and -namespace NS ($RUCHE_NAMESPACE, $NOMAD_NAMESPACE;
"*": every namespace), sent as ?region= and ?namespace= as Nomad's CLI sends them.
Run "ruche <command> -help" for a command's flags.
`;

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: IO): Promise<number> {
  if (argv.length === 0 || argv[0] === "-help" || argv[0] === "--help" || argv[0] === "-h") {
    io.out(USAGE);
    return argv.length === 0 ? Exit.Error : Exit.Ok;
  }
  if (argv.length === 1 && (argv[0] === "-version" || argv[0] === "--version" || argv[0] === "-v")) return version.run([], io);
  // The longest run of words that names a command: "operator tls ca rotate", "job run", "run".
  const words = [4, 3, 2, 1].find((n) => argv.length >= n && COMMANDS[argv.slice(0, n).join(" ")] !== undefined) ?? 1;
  const [cmd, rest] = [COMMANDS[argv.slice(0, words).join(" ")], argv.slice(words)];
  if (cmd === undefined) {
    const near = nearestCommand(argv);
    io.err(`unknown command: ${argv.slice(0, 2).join(" ")}${near === undefined ? "" : `; did you mean ${near}?`}\n\n${USAGE}`);
    return Exit.Error;
  }
  if (rest.some((a) => a === "-help" || a === "--help" || a === "-h")) {
    io.out(cmd.usage);
    return Exit.Ok;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    return reportError(err, io, cmd.usage);
  } finally {
    await closeApiClients(io);
  }
}

/** The command a mistyped command line most likely meant: the nearest key (within two edits) to its first words, longest first. */
export function nearestCommand(argv: readonly string[]): string | undefined {
  const keys = Object.keys(COMMANDS);
  for (const n of [4, 3, 2, 1]) {
    if (argv.length < n || argv.slice(0, n).some((w) => w.startsWith("-"))) continue;
    const typed = argv.slice(0, n).join(" ");
    const near = suggest(typed, keys.filter((k) => k.split(" ").length === n));
    if (near !== undefined) return near;
  }
  return undefined;
}
