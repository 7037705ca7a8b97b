/**
 * The edge router's routes, backends, health and request rates. The router publishes them
 * on its own dashboard port; the main API does not serve them (yet), so this page says
 * that no router is configured on this API.
 */
import type { JSX } from "preact";

export function RouterPage(): JSX.Element {
  return (
    <div>
      <div class="page-head">
        <h1>Router</h1>
      </div>
      <div class="empty-state" data-router="none">
        <p>
          <strong>No router configured.</strong>
        </p>
        <p class="muted">This API serves no routing table. An agent running the edge router shows its routes, backends, health and request rates on the router's own dashboard port.</p>
      </div>
    </div>
  );
}
