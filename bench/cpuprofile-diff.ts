// By hand: two .cpuprofile files (node --cpu-prof) side by side, self time by function per request.
// Usage: node bench/cpuprofile-diff.ts A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B [rows=30] [filter regexp]
// REQUESTS: the requests that process served over the profile (petrel_requests_total at its end).
import { readFileSync } from 'node:fs';

interface Profile { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] }

/** µs of self time per function (name, file, line), summed over the nodes of the call tree. */
function selfTime(file: string): Map<string, number> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byNode = new Map<number, number>();
  p.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  for (const n of p.nodes) {
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (byNode.get(n.id) ?? 0));
  }
  return byFunction;
}

const [fileA, reqA, fileB, reqB, rowsArg, filterArg] = process.argv.slice(2);
if (!fileA || !reqA || !fileB || !reqB) throw new Error('usage: cpuprofile-diff.ts A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B [rows] [filter]');
const a = selfTime(fileA);
const b = selfTime(fileB);
const [na, nb] = [Number(reqA), Number(reqB)];
const filter = filterArg === undefined ? undefined : new RegExp(filterArg);
const rows = [...new Set([...a.keys(), ...b.keys()])].filter((k) => !filter || filter.test(k))
  .map((k) => ({ k, a: (a.get(k) ?? 0) / na, b: (b.get(k) ?? 0) / nb }));
const busy = (m: Map<string, number>, n: number) => [...m].filter(([k]) => !k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0) / n;
const n = Number(rowsArg ?? 30);
const line = (d: number, x: number, y: number, k: string) => `${d.toFixed(2).padStart(8)} ${x.toFixed(2).padStart(8)} ${y.toFixed(2).padStart(8)}  ${k}`;
console.log(`busy µs per request (all but idle): A ${busy(a, na).toFixed(1)}, B ${busy(b, nb).toFixed(1)}`);
console.log('   A - B        A        B  (self µs per request), largest differences first');
rows.sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b));
for (const r of rows.slice(0, n)) console.log(line(r.a - r.b, r.a, r.b, r.k));
