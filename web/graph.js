// The topology graph: services as nodes, calls as directed edges labelled with the caller's
// requests/s, success rate and p99 over the last 30 s (GET /v1/topology). Cytoscape draws on a
// canvas; the same numbers are in the tables beside it as text. Nodes and edges are updated in
// place on each poll, and the layout runs again only when a service or a call appears or goes,
// so the picture does not jump every two seconds.
import cytoscape from './vendor/cytoscape.esm.min.mjs';
import { health, ms, percent, rps } from './format.js';

const COLORS = { healthy: '#2e7d32', degraded: '#f9a825', failing: '#c62828', idle: '#90a4ae' };

const STYLE = [
  { selector: 'node', style: {
    'background-color': '#eceff1', 'border-width': 3, 'border-color': COLORS.idle, shape: 'round-rectangle',
    width: 150, height: 54, label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'font-size': 12,
    'font-family': 'system-ui, sans-serif', color: '#263238',
  } },
  { selector: 'node.selected', style: { 'border-style': 'double', 'border-width': 6 } },
  { selector: 'edge', style: {
    width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': COLORS.idle, 'target-arrow-color': COLORS.idle,
    label: 'data(label)', 'font-size': 11, 'font-family': 'system-ui, sans-serif', 'text-background-color': '#ffffff',
    'text-background-opacity': 0.9, 'text-background-padding': 2, 'text-rotation': 'autorotate',
  } },
  ...Object.entries(COLORS).flatMap(([state, color]) => [
    { selector: `node.${state}`, style: { 'border-color': color } },
    { selector: `edge.${state}`, style: { 'line-color': color, 'target-arrow-color': color } },
  ]),
  { selector: 'node.failing', style: { 'background-color': '#ffebee' } },
];

export class Graph {
  /** `onSelect(service)`: a node was clicked. */
  constructor(container, onSelect) {
    this.cy = cytoscape({ container, style: STYLE, elements: [], minZoom: 0.3, maxZoom: 2.5 });
    this.cy.on('tap', 'node', (e) => onSelect(e.target.id()));
    this.shape = '';
  }

  update(topology, selected) {
    const cy = this.cy;
    const nodes = topology.nodes.map((n) => ({
      id: n.service,
      label: `${n.service}\n${n.stat === null ? 'no calls to it' : `${rps(n.stat.requestsPerSecond)} rps · ${percent(n.stat.successRate)}`}`,
      state: health(n.stat?.successRate),
    }));
    const edges = topology.edges.map((e) => ({
      id: `${e.from}->${e.to}`, source: e.from, target: e.to,
      label: `${rps(e.requestsPerSecond)} rps · ${percent(e.successRate)} · p99 ${ms(e.p99Ms)}`,
      state: health(e.successRate),
    }));
    const shape = JSON.stringify([nodes.map((n) => n.id), edges.map((e) => e.id)]);
    cy.batch(() => {
      const keep = new Set([...nodes.map((n) => n.id), ...edges.map((e) => e.id)]);
      cy.elements().filter((el) => !keep.has(el.id())).remove();
      for (const n of nodes) this.#put('nodes', n, n.id === selected);
      for (const e of edges) this.#put('edges', e, false);
    });
    // What the canvas shows, as text on its container: for tests and for assistive tools.
    const container = cy.container();
    container.dataset.nodes = nodes.map((n) => n.id).join(' ');
    container.dataset.failing = nodes.filter((n) => n.state === 'failing').map((n) => n.id).join(' ');
    container.setAttribute('aria-label', `${nodes.length} services, ${edges.length} calls between them`);
    if (shape !== this.shape) {
      this.shape = shape;
      cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.4, padding: 30, animate: false }).run();
      cy.fit(undefined, 30);
    }
  }

  #put(group, data, selected) {
    const { state, ...rest } = data;
    let el = this.cy.getElementById(data.id);
    if (el.empty()) el = this.cy.add({ group, data: rest });
    else el.data(rest);
    el.classes([state, selected ? 'selected' : ''].filter(Boolean));
  }

  resize() {
    this.cy.resize();
    this.cy.fit(undefined, 30);
  }
}
