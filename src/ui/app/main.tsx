/** The dashboard: one page per view, the shared header, the token prompt; mounted on #app. */
import { render, type JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { auth } from "./api.js";
import { TokenPrompt } from "./components.js";
import { hub, type StreamState } from "./events.js";
import { AllocPage } from "./pages/alloc.js";
import { ClusterPage } from "./pages/cluster.js";
import { JobPage } from "./pages/job.js";
import { JobsPage } from "./pages/jobs.js";
import { KvPage } from "./pages/kv.js";
import { NodePage } from "./pages/node.js";
import { NodesPage } from "./pages/nodes.js";
import { RouterPage } from "./pages/router.js";
import { ServicePage, ServicesPage } from "./pages/services.js";
import { href, interceptLinks, useRoute, type Route } from "./router.js";
import "./style.css";

const NAV = [
  { label: "Cluster", to: href.cluster(), pages: ["cluster"] },
  { label: "Jobs", to: href.jobs(), pages: ["jobs", "job", "alloc"] },
  { label: "Nodes", to: href.nodes(), pages: ["nodes", "node"] },
  { label: "Services", to: href.services(), pages: ["services", "service"] },
  { label: "Key/value", to: href.kv(""), pages: ["kv"] },
  { label: "Router", to: href.router(), pages: ["router"] },
] as const;

function Page({ route }: { route: Route }): JSX.Element {
  switch (route.page) {
    case "cluster":
      return <ClusterPage />;
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

function App(): JSX.Element {
  const route = useRoute();
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
                <a href={n.to} aria-current={(n.pages as readonly string[]).includes(route.page) ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
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
      <main id="main" key={epoch}>
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
