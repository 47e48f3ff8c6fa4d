// The endpoints pane: the chosen service's endpoints with their circuit breaker state as its callers'
// sidecars see them, and their latency score, from GET /v1/describe/service/<ns>/<name> (what
// `petrel describe service` prints): the control plane that serves this page serves that API too.
import { h, fill, table } from './dom.js';
import { ms } from './format.js';

const HEADINGS = ['endpoint', 'address', 'breaker', 'latency (EWMA)', 'in flight', 'seen by'];

export class EndpointsPane {
  constructor(tableEl, noteEl) {
    this.table = tableEl;
    this.note = noteEl;
  }

  async update(api, service, namespace) {
    if (service === '') {
      fill(this.note, 'Choose a service (or click one in the graph or the table).');
      table(this.table, HEADINGS, [], '');
      return;
    }
    try {
      this.#described(await api.get(`/v1/describe/service/${encodeURIComponent(namespace || 'default')}/${encodeURIComponent(service)}`));
    } catch (err) {
      fill(this.note, err.detail ?? err.message);
      table(this.table, HEADINGS, [], 'nothing to show');
    }
  }

  #described(body) {
    const rows = body.endpoints.map((e) => {
      const circuit = e.circuit ?? 'unknown';
      const who = [...(e.openBy ?? []).map((c) => `${c} (open)`), ...(e.halfOpenBy ?? []).map((c) => `${c} (half-open)`)];
      return h('tr', { class: `endpoint circuit-${circuit}`, dataset: { address: e.address, circuit } },
        h('td', { class: 'name' }, e.name, e.registered === false ? h('small', {}, ' (no longer registered)') : null),
        h('td', {}, e.address),
        h('td', { class: 'breaker' }, circuit),
        h('td', { class: 'num' }, e.ewmaMs === null || e.ewmaMs === undefined ? '–' : ms(e.ewmaMs)),
        h('td', { class: 'num' }, e.inflight ?? '–'),
        h('td', { title: (e.callers ?? []).join(', ') }, who.length > 0 ? who.join(', ') : `${(e.callers ?? []).length} caller(s)`));
    });
    fill(this.note, `${body.service}.${body.namespace}: breakers are per caller; an endpoint shows open when any caller holds it open.`);
    table(this.table, HEADINGS, rows, 'no endpoints registered');
  }
}
