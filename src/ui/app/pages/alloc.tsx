/** One allocation: where it runs, what it holds, its tasks with their events, its checks, and its tasks' output as it comes. */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { get, message, send, seg } from "../api.js";
import { Ago, Badge, ErrorBox, Loading, Section, THead, Use } from "../components.js";
import { bytes, jobHue, mb, msOfNanos, msOfTime, short, when } from "../format.js";
import { useLive } from "../live.js";
import { href } from "../router.js";
import type { AllocResourceUsage, Allocation, PublicNode } from "../types.js";

/** The most of a task's output the page keeps: the newest part. */
const MAX_LOG_CHARS = 512 * 1024;
/** How far back the log view starts. */
const TAIL_BYTES = 64 * 1024;
/** How often a running allocation's resource use is read again from its node. */
const STATS_EVERY_MS = 5000;

/**
 * What a running allocation's tasks use now (`/v1/client/allocation/:id/stats`, read from its
 * node), read again every few seconds; undefined while unknown, an error when the node's agent
 * cannot say.
 */
function useStats(allocId: string, running: boolean): { data?: AllocResourceUsage; error?: unknown } {
  const [state, setState] = useState<{ data?: AllocResourceUsage; error?: unknown }>({});
  useEffect(() => {
    if (!running) {
      setState({});
      return;
    }
    let live = true;
    const read = (): void => {
      get<AllocResourceUsage>(`/v1/client/allocation/${seg(allocId)}/stats`).then(
        (r) => {
          if (live) setState({ data: r.body });
        },
        (error: unknown) => {
          if (live) setState({ error });
        },
      );
    };
    read();
    const timer = setInterval(read, STATS_EVERY_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [allocId, running]);
  return state;
}

export function AllocPage({ id }: { id: string }): JSX.Element {
  const alloc = useLive<Allocation>(`/v1/allocation/${seg(id)}`, ["Allocation"], (e) => e.Key === id);
  const a = alloc.data;
  const nodeId = a?.NodeID;
  const node = useLive<PublicNode>(nodeId === undefined ? null : `/v1/node/${seg(nodeId)}`, ["Node"], (e) => e.Key === nodeId);
  const stats = useStats(id, a?.ClientStatus === "running");
  if (a === undefined) {
    return (
      <div>
        <h1>Allocation {short(id)}</h1>
        {alloc.error === undefined ? <Loading what="the allocation" /> : <ErrorBox error={alloc.error} />}
      </div>
    );
  }
  const group = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup);
  const tasks = group?.Tasks.map((t) => t.Name) ?? Object.keys(a.TaskStates);
  const ports = a.Resources.Networks.flatMap((n) => [...n.ReservedPorts, ...n.DynamicPorts].map((p) => ({ ...p, ip: n.IP })));
  return (
    <div>
      <div class="page-head">
        <h1>
          <span class="swatch" style={{ "--hue": String(jobHue(a.JobID)) }} aria-hidden="true" />
          {a.Name}
        </h1>
        <Badge status={a.ClientStatus} />
        {a.DeploymentStatus?.Canary === true ? <Badge status="canary" /> : null}
      </div>
      <ErrorBox error={alloc.error} what="Allocation" />
      <dl class="facts">
        <dt>ID</dt>
        <dd>
          <code>{a.ID}</code>
        </dd>
        <dt>Job</dt>
        <dd>
          <a href={href.job(a.JobID, a.Namespace)}>{a.JobID}</a> v{a.Job.Version}
        </dd>
        <dt>Node</dt>
        <dd>
          <a href={href.node(a.NodeID)}>{a.NodeName}</a>
        </dd>
        <dt>Desired</dt>
        <dd>
          {a.DesiredStatus}
          {a.DesiredDescription === "" ? "" : ` — ${a.DesiredDescription}`}
        </dd>
        <dt>Client</dt>
        <dd>
          {a.ClientStatus}
          {a.ClientDescription === "" ? "" : ` — ${a.ClientDescription}`}
        </dd>
        <dt>Deployment health</dt>
        <dd>{a.DeploymentStatus === null ? "—" : a.DeploymentStatus.Healthy === null ? "not yet known" : a.DeploymentStatus.Healthy ? "healthy" : "unhealthy"}</dd>
        <dt>Created</dt>
        <dd>
          <Ago ms={msOfNanos(a.CreateTime)} />
        </dd>
      </dl>

      <Section title="Resources" id="resources">
        <p class="muted">What the allocation holds, and its share of the node{node.data === undefined ? "" : ` ${node.data.Name}`}.</p>
        <div class="meters">
          <Meter label="CPU" value={`${a.Resources.CPU} MHz`} used={a.Resources.CPU} total={node.data?.Resources.CPU} />
          <Meter label="Memory" value={mb(a.Resources.MemoryMB)} used={a.Resources.MemoryMB} total={node.data?.Resources.MemoryMB} />
          <Meter label="Disk" value={mb(a.Resources.DiskMB)} used={a.Resources.DiskMB} total={node.data?.Resources.DiskMB} />
        </div>
        {ports.length === 0 ? null : (
          <ul class="ports" aria-label="Ports">
            {ports.map((p) => (
              <li key={p.Label}>
                <code>
                  {p.Label} {p.ip === "" ? "" : p.ip}:{p.Value}
                  {p.To > 0 && p.To !== p.Value ? ` → ${p.To}` : ""}
                </code>
              </li>
            ))}
          </ul>
        )}
      </Section>

      <Section title="Tasks" id="tasks">
        {stats.error === undefined ? null : <p class="muted">Resource use unknown: the node's agent did not say ({message(stats.error)}).</p>}
        {tasks.map((name) => {
          const s = a.TaskStates[name];
          const t = group?.Tasks.find((x) => x.Name === name);
          const r = a.TaskResources[name];
          const usage = stats.data?.Tasks[name]?.ResourceUsage;
          return (
            <div class="task" key={name} data-task={name}>
              <h3>
                {name} {s === undefined ? <Badge status="pending" /> : <Badge status={s.Failed ? "failed" : s.State} />}
              </h3>
              <p class="muted">
                {t?.Driver ?? "?"} driver{r === undefined ? "" : ` · ${r.CPU} MHz · ${mb(r.MemoryMB)}`}
                {usage === undefined ? null : (
                  <span class="usage" data-usage={name}>
                    {` · using ${Math.floor(usage.CpuStats.TotalTicks)}${r === undefined ? "" : `/${r.CPU}`} MHz · ${bytes(usage.MemoryStats.RSS > 0 ? usage.MemoryStats.RSS : usage.MemoryStats.Usage)}${r === undefined ? "" : `/${mb(r.MemoryMB)}`}`}
                  </span>
                )}
                {s === undefined ? "" : ` · ${s.Restarts} restart${s.Restarts === 1 ? "" : "s"}`}
                {s !== undefined && msOfTime(s.StartedAt) > 0 ? (
                  <>
                    {" · started "}
                    <Ago ms={msOfTime(s.StartedAt)} />
                  </>
                ) : null}
              </p>
              {s === undefined || s.Events.length === 0 ? null : (
                <div class="table-wrap">
                  <table aria-label={`Events of ${name}`}>
                    <THead cols={["Time", "Type", "Description"]} />
                    <tbody>
                      {[...s.Events].reverse().map((e, i) => (
                        <tr key={i}>
                          <td class="nowrap">{when(e.Time / 1e6)}</td>
                          <td>{e.Type}</td>
                          <td>{e.Message}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
          );
        })}
      </Section>

      {a.Checks === undefined || a.Checks.length === 0 ? null : (
        <Section title="Checks" id="checks">
          <ul class="checks">
            {a.Checks.map((c) => (
              <li key={`${c.Service}/${c.Name}`}>
                <Badge status={c.Status} /> <strong>{c.Name}</strong> <span class="muted">{c.Service}</span> <code class="output">{c.Output}</code>
              </li>
            ))}
          </ul>
        </Section>
      )}

      <Logs allocId={a.ID} tasks={tasks} />
    </div>
  );
}

function Meter({ label, value, used, total }: { label: string; value: string; used: number; total: number | undefined }): JSX.Element {
  return (
    <div class="meter">
      <div class="muted">{label}</div>
      <div class="meter-value">{value}</div>
      {total === undefined || total <= 0 ? null : <Use used={used} total={total} text={`${value} of the node`} />}
    </div>
  );
}

/** A task's stdout or stderr, from a little before now, followed as the task writes. */
function Logs({ allocId, tasks }: { allocId: string; tasks: string[] }): JSX.Element {
  const [task, setTask] = useState(tasks[0] ?? "");
  const [type, setType] = useState<"stdout" | "stderr">("stdout");
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState("");
  const [state, setState] = useState<"loading" | "following" | "done" | "error">("loading");
  const [error, setError] = useState<unknown>(undefined);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    setText("");
    setError(undefined);
    setState("loading");
    const read = async (): Promise<void> => {
      const res = await send("GET", `/v1/client/fs/logs/${seg(allocId)}`, undefined, {
        signal: abort.signal,
        query: { task, type, follow: String(follow), origin: "end", offset: String(TAIL_BYTES), plain: "true" },
      });
      setState(follow ? "following" : "done");
      if (res.body === null) return;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        setText((t) => (t.length + value.length > MAX_LOG_CHARS ? (t + value).slice(-MAX_LOG_CHARS) : t + value));
      }
      setState("done");
    };
    read().catch((err: unknown) => {
      if (abort.signal.aborted) return;
      setError(err);
      setState("error");
    });
    return () => {
      abort.abort();
    };
  }, [allocId, task, type, follow]);

  useEffect(() => {
    const el = pre.current;
    if (el !== null && follow) el.scrollTop = el.scrollHeight;
  }, [text, follow]);

  return (
    <Section title="Logs" id="logs">
      <div class="toolbar" role="group" aria-label="Log options">
        {tasks.length > 1 ? (
          <label>
            Task{" "}
            <select
              value={task}
              onChange={(e) => {
                setTask(e.currentTarget.value);
              }}
            >
              {tasks.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
        ) : (
          <span>
            Task <strong>{task}</strong>
          </span>
        )}
        <span class="segmented" role="radiogroup" aria-label="Stream">
          {(["stdout", "stderr"] as const).map((t) => (
            <button
              key={t}
              type="button"
              role="radio"
              aria-checked={type === t}
              class={`btn${type === t ? " selected" : ""}`}
              onClick={() => {
                setType(t);
              }}
            >
              {t}
            </button>
          ))}
        </span>
        <label class="check">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => {
              setFollow(e.currentTarget.checked);
            }}
          />{" "}
          Follow
        </label>
        <span class="muted" aria-live="polite">
          {state === "following" ? "following…" : state === "loading" ? "connecting…" : state === "error" ? "stopped" : "end of output"}
        </span>
      </div>
      <ErrorBox error={error} what="Logs" />
      <pre class="logs" ref={pre} tabIndex={0} aria-label={`${type} of ${task}`} data-log={type}>
        {text === "" ? <span class="muted">{state === "loading" ? "" : "(nothing written yet)"}</span> : text}
      </pre>
    </Section>
  );
}
