/** The dashboard: one page per view, the shared header, the token prompt; mounted on #app. */
import { render, type JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { auth, get } from "./api.js";
import { TokenPrompt } from "./components.js";
import { hub, type StreamState } from "./events.js";
import { usePolled } from "./live.js";
import { AllocPage } from "./pages/alloc.js";
import { ClusterPage } from "./pages/cluster.js";
import { JobPage } from "./pages/job.js";
import { JobsPage } from "./pages/jobs.js";
import { KvPage } from "./pages/kv.js";
import { MembersPage } from "./pages/members.js";
import { NodePage } from "./pages/node.js";
import { NodesPage } from "./pages/nodes.js";
import { RouterPage } from "./pages/router.js";
import { ServicePage, ServicesPage } from "./pages/services.js";
import { currentRegion, inRegion } from "./region.js";
import { href, interceptLinks, navigate, useRoute, type Route } from "./router.js";
import "./style.css";

// Links made at each render: they keep the page's region.
const NAV = [
  { label: "Cluster", to: () => href.cluster(), pages: ["cluster"] },
  { label: "Servers", to: () => href.servers(), pages: ["servers"] },
  { label: "Jobs", to: () => href.jobs(), pages: ["jobs", "job", "alloc"] },
  { label: "Nodes", to: () => href.nodes(), pages: ["nodes", "node"] },
  { label: "Services", to: () => href.services(), pages: ["services", "service"] },
  { label: "Key/value", to: () => href.kv(""), pages: ["kv"] },
  { label: "Router", to: () => href.router(), pages: ["router"] },
] as const;

function Page({ route }: { route: Route }): JSX.Element {
  switch (route.page) {
    case "cluster":
      return <ClusterPage />;
    case "servers":
      return <MembersPage />;
    case "jobs":
      return <JobsPage />;
    case "job":
      return <JobPage id={route.id} />;
    case "alloc":
      return <AllocPage id={route.id} />;
    case "nodes":
      return <NodesPage />;
    case "node":
      return <NodePage id={route.id} />;
    case "services":
      return <ServicesPage />;
    case "service":
      return <ServicePage name={route.name} />;
    case "kv":
      return <KvPage path={route.key} />;
    case "router":
      return <RouterPage />;
    case "missing":
      return (
        <div>
          <h1>Not found</h1>
          <p>
            The dashboard has no page at <code>{route.path}</code>. <a href={href.cluster()}>Back to the cluster.</a>
          </p>
        </div>
      );
    default: {
      const _: never = route;
      return _;
    }
  }
}

function titleOf(route: Route): string {
  switch (route.page) {
    case "job":
      return `Job ${route.id}`;
    case "alloc":
      return `Allocation ${route.id.slice(0, 8)}`;
    case "node":
      return "Node";
    case "service":
      return `Service ${route.name}`;
    case "kv":
      return "Key/value";
    case "missing":
      return "Not found";
    default:
      return NAV.find((n) => (n.pages as readonly string[]).includes(route.page))?.label ?? "Ruche";
  }
}

function useStreamState(): StreamState {
  const [state, setState] = useState<StreamState>(hub.state);
  useEffect(() => hub.onState(setState), []);
  return state;
}

/** How often the header reads the regions again, so that one joined meanwhile can be chosen. */
const REGIONS_EVERY_MS = 30_000;

/**
 * The region of the server that served the page (`/v1/agent/self`'s `config.Region`, else
 * `/v1/agent/members`' `ServerRegion` when the token may not read the agent): the one shown
 * when the URL names none. "" while unknown.
 */
async function ownRegion(signal: AbortSignal): Promise<string> {
  try {
    const self = await get<{ config?: { Region?: unknown } }>("/v1/agent/self", { signal, prompt: false });
    if (typeof self.body.config?.Region === "string") return self.body.config.Region;
  } catch (err) {
    if (signal.aborted) throw err;
  }
  const members = await get<{ ServerRegion?: unknown }>("/v1/agent/members", { signal, prompt: false });
  return typeof members.body.ServerRegion === "string" ? members.body.ServerRegion : "";
}

/**
 * The region switcher, as Nomad's UI has it: a select of every region when there are more
 * than one (a lone region other than "global" is named), the page's region chosen. Choosing
 * one puts it in the URL (`?region=`, taken off for the serving server's own region), and
 * every view reads again from that region.
 */
function RegionSwitcher({ region }: { region: string }): JSX.Element | null {
  const regions = usePolled<string[]>("regions", async (signal) => (await get<string[]>("/v1/regions", { signal, prompt: false })).body, REGIONS_EVERY_MS);
  const own = usePolled<string>("own", ownRegion, 24 * 3600_000);
  const list = Array.isArray(regions.data) ? [...regions.data].sort() : [];
  const shown = region === "" ? (own.data ?? "") : region;
  if (list.length <= 1) {
    const lone = list[0] ?? shown;
    return lone === "" || lone === "global" ? null : <span class="region-one">Region: {lone}</span>;
  }
  // A region named in the URL that the server does not know stays shown: its requests say why they fail.
  const options = shown === "" || list.includes(shown) ? list : [...list, shown];
  return (
    <label class="region">
      <span>Region</span>
      <select
        value={shown}
        onChange={(e) => {
          navigate(inRegion(location.pathname, location.search, e.currentTarget.value, own.data ?? ""));
        }}
      >
        {shown === "" ? <option value="">this server's</option> : null}
        {options.map((r) => (
          <option key={r} value={r}>
            {r}
            {list.includes(r) ? "" : " (unknown)"}
          </option>
        ))}
      </select>
    </label>
  );
}

function App(): JSX.Element {
  const route = useRoute();
  const region = currentRegion();
  const stream = useStreamState();
  const [prompt, setPrompt] = useState(false);
  // A new token: every view reads again with it, and the event stream reconnects.
  const [epoch, setEpoch] = useState(0);
  useEffect(
    () =>
      auth.subscribe(() => {
        if (auth.refused !== "") setPrompt(true);
      }),
    [],
  );
  useEffect(() => {
    document.title = `${titleOf(route)} · Ruche`;
  }, [route]);
  // Another region: the event stream follows it; every view reads again (`main` is keyed by it).
  const shownRegion = useRef(region);
  useEffect(() => {
    if (shownRegion.current === region) return;
    shownRegion.current = region;
    hub.reconnect();
  }, [region]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href.cluster()}>
          <svg viewBox="0 0 16 16" width="22" height="22" aria-hidden="true">
            <path d="M8 1l6 3.5v7L8 15l-6-3.5v-7z" fill="var(--honey)" />
          </svg>
          Ruche
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={n.to()} aria-current={(n.pages as readonly string[]).includes(route.page) ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          <RegionSwitcher region={region} />
          <span class={`stream st-${stream}`} role="status" title="The event stream that keeps every view current">
            <span class="dot" aria-hidden="true" />
            {stream === "live" ? "live" : stream === "connecting" ? "connecting" : "reconnecting"}
          </span>
          <button
            type="button"
            class="btn"
            onClick={() => {
              setPrompt(true);
            }}
          >
            {auth.token() === "" ? "Token" : "Token ✓"}
          </button>
        </div>
      </header>
      <main id="main" key={`${epoch}/${region}`}>
        <Page route={route} />
      </main>
      <TokenPrompt
        open={prompt}
        onClose={() => {
          setPrompt(false);
        }}
        onSaved={() => {
          setPrompt(false);
          hub.reconnect();
          setEpoch((n) => n + 1);
        }}
      />
    </>
  );
}

interceptLinks();
const root = document.getElementById("app");
if (root !== null) render(<App />, root);
