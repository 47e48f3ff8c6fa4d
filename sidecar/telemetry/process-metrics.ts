// Node's process metrics from prom-client, minus the three gauges whose names end in `_total`,
// which `promtool check metrics` rejects (non-counter metrics must not have that suffix).
import { collectDefaultMetrics, type Registry } from 'prom-client';

const LINT_FAILURES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of LINT_FAILURES) registry.removeSingleMetric(name);
}
