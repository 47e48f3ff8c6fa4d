// The mesh web view (served by `petrel control` at / on its API port; `petrel dashboard` opens it).
// Every POLL_MS it reads /v1/status, /v1/topology and (for the chosen service) its endpoints, and
// redraws: the graph, the tables, the sidecars, the policy errors. Plain ESM, no framework: the
// modules beside this one each draw one part.
import { Api, ApiError, saveToken, takeToken } from './api.js';
import { EndpointsPane } from './endpoints.js';
import { Graph } from './graph.js';
import { fill, options } from './dom.js';
import { renderEdges, renderPolicies, renderServices, renderSidecars, summaryLine } from './panes.js';
import { TapPane } from './tap.js';

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const api = new Api(takeToken());
let selected = '';
let namespaces = new Map();
let last = { topology: { nodes: [], edges: [] }, status: { sidecars: [], policies: { count: 0, rejected: [] } } };

const select = (service) => {
  selected = service;
  $('endpoint-service').value = service;
  $('tap-service').value = service;
  draw();
  void endpoints.update(api, selected, namespaces.get(selected) ?? '');
};

const graph = new Graph($('graph'), select);
const endpoints = new EndpointsPane($('endpoints'), $('endpoints-note'));
const tap = new TapPane($('tap-form'), $('tap'), $('tap-status'));

$('endpoint-service').addEventListener('change', (e) => select(e.target.value));
$('tap-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const service = $('tap-service').value;
  void tap.run(api, service, namespaces.get(service) ?? '');
});
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  api.token = $('token-input').value.trim();
  saveToken(api.token);
  void poll();
});
window.addEventListener('resize', () => graph.resize());

function draw() {
  const { topology, status } = last;
  graph.update(topology, selected);
  renderServices($('services'), topology, selected, select);
  renderEdges($('edges'), topology);
  renderSidecars($('sidecars'), status);
  renderPolicies($('policies'), status);
  fill($('summary'), summaryLine(topology, status));
  const names = topology.nodes.map((n) => n.service);
  options($('endpoint-service'), names, '');
  options($('tap-service'), names, '');
  $('endpoint-service').value = names.includes(selected) ? selected : '';
}

function banner(text, askToken) {
  $('banner').hidden = text === '';
  fill($('banner-text'), text);
  $('token-form').hidden = !askToken;
}

async function poll() {
  try {
    const [status, topology] = await Promise.all([api.get('/v1/status'), api.get('/v1/topology')]);
    last = { status, topology };
    namespaces = new Map(topology.nodes.map((n) => [n.service, n.namespace]));
    draw();
    await endpoints.update(api, selected, namespaces.get(selected) ?? '');
    banner('', false);
    fill($('updated'), `updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) banner('This control plane needs its token: open the page with `petrel dashboard --token-file F`, or enter it here.', true);
    else banner(`Cannot read the control plane: ${err.message}. Retrying every ${POLL_MS / 1000} s.`, false);
  }
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}

void loop();
