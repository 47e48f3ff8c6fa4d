// The tables beside the graph: services with their golden signals, calls between services, every
// sidecar's sync status, and the policies the control plane rejected. Each number is also a DOM
// text node with a class naming it (rps, success, p99), so it can be read and tested as text.
import { h, fill, table } from './dom.js';
import { ago, health, ms, percent, rps } from './format.js';

/** Services: one row each, coloured by health; a click selects the service for the endpoints and tap panes. */
export function renderServices(el, topology, selected, onSelect) {
  const rows = topology.nodes.map((n) => {
    const s = n.stat;
    const state = health(s?.successRate);
    const tr = h('tr', { class: `service ${state}${n.service === selected ? ' selected' : ''}`, dataset: { service: n.service, health: state } },
      h('td', { class: 'name' }, h('span', { class: `dot ${state}` }), n.service),
      h('td', {}, n.namespace || '–'),
      h('td', { class: n.sidecars > 0 && n.synced < n.sidecars ? 'warn' : '' }, `${n.synced}/${n.sidecars}`),
      h('td', { class: 'num rps' }, rps(s?.requestsPerSecond)),
      h('td', { class: 'num success' }, percent(s?.successRate)),
      h('td', { class: 'num p50' }, ms(s?.p50Ms)),
      h('td', { class: 'num p99' }, ms(s?.p99Ms)),
      h('td', { class: 'num retries' }, rps(s?.retriesPerSecond)),
      h('td', { class: 'source' }, s === null ? '' : s.source === 'inbound' ? 'own sidecars' : 'callers'));
    tr.addEventListener('click', () => onSelect(n.service));
    return tr;
  });
  table(el, ['service', 'namespace', 'synced', 'rps', 'success', 'p50', 'p99', 'retries/s', 'seen by'], rows, 'no services yet: no sidecar has connected');
}

export function renderEdges(el, topology) {
  const rows = topology.edges.map((e) => {
    const state = health(e.successRate);
    return h('tr', { class: `edge ${state}`, dataset: { from: e.from, to: e.to, health: state } },
      h('td', { class: 'name' }, h('span', { class: `dot ${state}` }), `${e.from} → ${e.to}`),
      h('td', { class: 'num rps' }, rps(e.requestsPerSecond)),
      h('td', { class: 'num success' }, percent(e.successRate)),
      h('td', { class: 'num p99' }, ms(e.p99Ms)),
      h('td', { class: 'num retries' }, rps(e.retriesPerSecond)));
  });
  table(el, ['call', 'rps', 'success', 'p99', 'retries/s'], rows, 'no calls between services in the last 30 s');
}

export function renderSidecars(el, status) {
  const rows = status.sidecars.map((s) => {
    const state = !s.connected ? 'DISCONNECTED' : s.state;
    return h('tr', { class: `sidecar state-${state}`, dataset: { service: s.service, state } },
      h('td', { class: 'name' }, s.name),
      h('td', {}, `${s.service}.${s.namespace}`),
      h('td', {}, s.address),
      h('td', { class: 'num' }, s.version ?? '–'),
      h('td', { class: 'state' }, state),
      h('td', { class: 'error' }, s.error ?? ''),
      h('td', {}, ago(s.lastSeen)));
  });
  table(el, ['sidecar', 'service', 'address', 'version', 'state', 'error', 'last seen'], rows, 'no sidecar has connected');
}

export function renderPolicies(el, status) {
  const { count, rejected } = status.policies;
  const head = h('p', { class: rejected.length > 0 ? 'failing' : 'healthy' },
    `${count} polic${count === 1 ? 'y' : 'ies'} in force; ${rejected.length === 0 ? 'none rejected' : `${rejected.length} rejected (each keeps its last good version until fixed):`}`);
  const list = h('ul', { class: 'policy-errors' }, rejected.map((r) => h('li', {}, h('strong', {}, r.origin), h('ul', {}, r.errors.map((e) => h('li', {}, e))))));
  fill(el, head, rejected.length > 0 ? list : null);
}

/** The header line: services, sidecars and their sync state at a glance. */
export function summaryLine(topology, status) {
  const synced = status.sidecars.filter((s) => s.connected && s.state === 'SYNCED').length;
  const connected = status.sidecars.filter((s) => s.connected).length;
  const failing = topology.nodes.filter((n) => health(n.stat?.successRate) === 'failing').length;
  const version = status.control?.version === undefined ? '' : ` · petrel ${status.control.version}`;
  return `${topology.nodes.length} services · ${synced}/${connected} sidecars synced · ${failing} failing · ${status.policies.rejected.length} policy errors${version}`;
}
