// The endpoints pane: the chosen service's endpoints with their circuit breaker state as its callers'
// sidecars see them, and their latency score, from GET /v1/describe/service/<ns>/<name> (what
// `petrel describe service` prints). A control plane without that API (older builds) still lists the
// endpoints, from its sidecars' registrations in /v1/status, with the breaker state unknown.
import { h, fill, table } from './dom.js';
import { missingApi } from './api.js';
import { ms } from './format.js';

const HEADINGS = ['endpoint', 'address', 'breaker', 'latency (EWMA)', 'in flight', 'seen by'];

export class EndpointsPane {
  constructor(tableEl, noteEl) {
    this.table = tableEl;
    this.note = noteEl;
    /** Set once the control plane says it has no describe API: stop asking. */
    this.noDescribe = false;
  }

  async update(api, service, namespace, status) {
    if (service === '') {
      fill(this.note, 'Choose a service (or click one in the graph or the table).');
      table(this.table, HEADINGS, [], '');
      return;
    }
    if (!this.noDescribe) {
      try {
        const body = await api.get(`/v1/describe/service/${encodeURIComponent(namespace || 'default')}/${encodeURIComponent(service)}`);
        this.#described(body);
        return;
      } catch (err) {
        if (!missingApi(err)) {
          fill(this.note, err.detail ?? err.message);
          table(this.table, HEADINGS, [], 'nothing to show');
          return;
        }
        this.noDescribe = true;
      }
    }
    this.#registered(service, status);
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

  // TODO(issue 14): drop this once every control plane serves GET /v1/describe (petrel describe).
  #registered(service, status) {
    const mine = status.sidecars.filter((s) => s.service === service && s.connected && !s.deregistered);
    const rows = mine.map((s) => h('tr', { class: 'endpoint circuit-unknown', dataset: { address: s.address, circuit: 'unknown' } },
      h('td', { class: 'name' }, s.name), h('td', {}, s.address), h('td', { class: 'breaker' }, 'unknown'),
      h('td', { class: 'num' }, '–'), h('td', { class: 'num' }, '–'), h('td', {}, '–')));
    fill(this.note, 'This control plane has no describe API (GET /v1/describe): endpoints come from the sidecars registered for the service; breaker states are not known here.');
    table(this.table, HEADINGS, rows, 'no sidecar registered for this service');
  }
}
