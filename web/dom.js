// Building DOM without innerHTML: every name and message shown comes from sidecars and policy
// files, so text goes in as text (textContent), never as markup.

/** An element: h('td', { class: 'rps', dataset: { service: 'web' } }, 'text', childNode, ...). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'title') el.title = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A table: a header row, then rows (each an array of cells, or a ready <tr>). */
export function table(el, headings, rows, empty) {
  const head = h('thead', {}, h('tr', {}, headings.map((t) => h('th', {}, t))));
  const body = h('tbody', {}, rows.length > 0 ? rows : h('tr', { class: 'empty' }, h('td', { colspan: headings.length }, empty)));
  fill(el, head, body);
}

/** Keeps a <select>'s options to `values`, preserving the choice when it is still there. */
export function options(select, values, placeholder) {
  const chosen = select.value;
  const want = [placeholder, ...values];
  const have = [...select.options].map((o) => o.value);
  if (want.length !== have.length || want.some((v, i) => v !== have[i])) {
    fill(select, h('option', { value: '' }, placeholder === '' ? '(choose)' : placeholder), values.map((v) => h('option', { value: v }, v)));
    select.value = values.includes(chosen) ? chosen : '';
  }
  return select.value;
}
