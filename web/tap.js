// The tap pane: live requests to and from the chosen service, as its sidecars see them, from the
// control plane's tap stream (GET /v1/tap?service&namespace&explain&max&duration, NDJSON lines
// {type: start|event|end}, what `petrel tap` reads). A tap is bounded: at most MAX events or
// DURATION, whichever comes first; Stop ends it early (closing the stream ends the tap upstream).
import { h, fill } from './dom.js';
import { missingApi } from './api.js';
import { ms } from './format.js';

const MAX = 200;
const DURATION = '60s';
/** Rows kept on screen: the newest first. */
const ROWS = 50;
const HEADINGS = ['time (UTC)', 'dir', 'service', 'peer', 'method', 'authority', 'path', 'status', 'flags', 'attempts', 'upstream', 'duration'];

export class TapPane {
  constructor(form, tableEl, statusEl) {
    this.tableEl = tableEl;
    this.statusEl = statusEl;
    this.start = form.querySelector('#tap-start');
    this.stop = form.querySelector('#tap-stop');
    this.explain = form.querySelector('#tap-explain');
    this.controller = null;
    this.stop.addEventListener('click', () => this.controller?.abort());
    this.#header();
  }

  #header() {
    fill(this.tableEl, h('thead', {}, h('tr', {}, HEADINGS.map((t) => h('th', {}, t)))), h('tbody'));
  }

  async run(api, service, namespace) {
    if (service === '' || this.controller !== null) return;
    const controller = (this.controller = new AbortController());
    this.start.disabled = true;
    this.stop.disabled = false;
    this.#header();
    const body = this.tableEl.querySelector('tbody');
    let events = 0;
    fill(this.statusEl, `tapping ${service}…`);
    const query = new URLSearchParams({ service, namespace: namespace || 'default', max: String(MAX), duration: DURATION, explain: this.explain.checked ? '1' : '0' });
    try {
      await api.stream(`/v1/tap?${query}`, (line) => {
        if (line.type === 'start') fill(this.statusEl, `tapping ${line.service}.${line.namespace} through ${line.sidecars} sidecar(s), up to ${line.max} requests`);
        else if (line.type === 'event') {
          events++;
          body.prepend(...this.#rows(line.event));
          while (body.rows.length > ROWS * 2) body.lastElementChild.remove();
        } else if (line.type === 'end') fill(this.statusEl, `tap ended (${line.reason}): ${line.events} requests shown${line.dropped > 0 ? `, ${line.dropped} not sampled` : ''}`);
      }, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) fill(this.statusEl, `tap stopped: ${events} requests shown`);
      else if (missingApi(err)) fill(this.statusEl, 'This control plane has no tap stream (GET /v1/tap): use a build with `petrel tap`.');
      else fill(this.statusEl, `tap failed: ${err.detail ?? err.message}`);
    } finally {
      this.controller = null;
      this.start.disabled = false;
      this.stop.disabled = true;
    }
  }

  #rows(e) {
    const failed = e.status >= 500 || (e.flags !== '-' && e.flags !== '');
    const row = h('tr', { class: failed ? 'failing' : '' },
      h('td', {}, e.time.slice(11, 23)), h('td', {}, e.direction === 'inbound' ? 'in' : 'out'), h('td', {}, e.service), h('td', {}, e.peer),
      h('td', {}, e.method), h('td', {}, e.authority), h('td', { class: 'path' }, e.path), h('td', { class: 'num' }, e.grpc_status ? `${e.status} / grpc ${e.grpc_status}` : e.status),
      h('td', {}, e.flags), h('td', { class: 'num' }, e.attempts), h('td', {}, e.upstream), h('td', { class: 'num' }, ms(e.duration_ms)));
    if (e.explanation === undefined) return [row];
    return [row, h('tr', { class: 'explain' }, h('td', { colspan: HEADINGS.length }, e.explanation))];
  }
}
