// Gateway API RequestHeaderModifier and ResponseHeaderModifier: set (replace every value of a
// name), add (append a value; an existing value stays), remove. Names compare case-insensitively.
// Compiled once per snapshot; applied to the flat [name, value, ...] lists the proxy forwards and to
// the header objects undici hands back.
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderModifierSpec } from '../../api/types.ts';

export class HeaderModifier {
  readonly #set: readonly (readonly [string, string])[];
  readonly #add: readonly (readonly [string, string])[];
  /** Every name set or removed: their old values go first. */
  readonly #drop: ReadonlySet<string>;

  constructor(spec: HeaderModifierSpec) {
    this.#set = (spec.set ?? []).map((h) => [h.name.toLowerCase(), h.value] as const);
    this.#add = (spec.add ?? []).map((h) => [h.name.toLowerCase(), h.value] as const);
    this.#drop = new Set([...this.#set.map(([n]) => n), ...(spec.remove ?? []).map((n) => n.toLowerCase())]);
  }

  /** Modifies a flat [name, value, ...] list in place (pseudo-headers, ":..." names, untouched). */
  applyToList(list: string[]): void {
    if (this.#drop.size > 0) {
      let w = 0;
      for (let r = 0; r < list.length; r += 2) {
        const name = list[r] as string;
        if (this.#drop.has(name.toLowerCase())) continue;
        list[w] = name;
        list[w + 1] = list[r + 1] as string;
        w += 2;
      }
      list.length = w;
    }
    for (const [name, value] of this.#set) list.push(name, value);
    for (const [name, value] of this.#add) {
      // "add" appends to an existing value, comma-joined as HTTP folds repeated fields.
      let found = false;
      for (let i = 0; i < list.length; i += 2) {
        if ((list[i] as string).toLowerCase() === name) {
          list[i + 1] = `${list[i + 1] as string},${value}`;
          found = true;
          break;
        }
      }
      if (!found) list.push(name, value);
    }
  }

  /** Modifies a lower-case header object in place. */
  applyToObject(headers: IncomingHttpHeaders): void {
    for (const name of this.#drop) delete headers[name];
    for (const [name, value] of this.#set) headers[name] = value;
    for (const [name, value] of this.#add) {
      const old = headers[name];
      headers[name] = old === undefined ? value : `${Array.isArray(old) ? old.join(',') : old},${value}`;
    }
  }
}
