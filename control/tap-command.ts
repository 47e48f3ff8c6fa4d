// `petrel tap SERVICE`: live requests to and from a service, as its sidecars and its callers'
// sidecars see them, relayed by the control plane (GET /v1/tap, an NDJSON stream). One line per
// request; with --explain a second line with each policy decision in words. -o json prints each
// event as one JSON line. It ends at --max events, after --duration, or on Ctrl-C.
import type { TapEvent, TapLine } from '../api/tap-messages.ts';
import { formatDuration } from '../api/duration.ts';
import { readApiToken } from './api-client.ts';

export interface TapOptions {
  control: string;
  tokenFile?: string | undefined;
  service: string;
  namespace: string;
  durationMs: number;
  max: number;
  explain: boolean;
  output: 'text' | 'json';
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export async function runTap(o: TapOptions): Promise<number> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = o.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let token: string | undefined;
  try {
    token = await readApiToken(o.tokenFile);
  } catch (e) {
    err(`petrel tap: ${(e as Error).message}`);
    return 1;
  }
  const url = new URL('/v1/tap', o.control);
  url.search = new URLSearchParams({
    service: o.service, namespace: o.namespace, max: String(o.max), duration: formatDuration(o.durationMs), ...(o.explain ? { explain: '1' } : {}),
  }).toString();
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  // The control plane ends the tap itself; this is the CLI's own guard should it not.
  const guard = setTimeout(() => abort.abort(), o.durationMs + 10_000);
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: abort.signal });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      err(`petrel tap: cannot reach ${url.origin}${url.pathname}: ${cause?.code ?? (e as Error).message}`);
      return 1;
    }
    if (!res.ok || res.body === null) {
      const detail = ((await res.json().catch(() => ({}))) as { error?: unknown }).error;
      const hint = res.status === 401 ? (token === undefined ? ' (tap is privileged: pass --token-file with the control plane\'s token)' : ' (the token in --token-file is not the control plane\'s)') : '';
      err(`petrel tap: ${url.origin}${url.pathname}: HTTP ${res.status}${typeof detail === 'string' ? `: ${detail}` : ''}${hint}`);
      return 1;
    }
    let events = 0;
    let buffered = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const text = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (text.trim() === '') continue;
          const line = JSON.parse(text) as TapLine;
          if (line.type === 'start') {
            err(`tapping ${line.service}.${line.namespace} through ${line.sidecars} sidecar${line.sidecars === 1 ? '' : 's'}: up to ${line.max} requests or ${formatDuration(line.durationMs)}${line.explain ? ', explained' : ''}`);
          } else if (line.type === 'event') {
            if (events >= o.max) continue;
            events++;
            if (o.output === 'json') out(JSON.stringify(line.event));
            else for (const l of formatTapEvent(line.event)) out(l);
          } else {
            err(`tap ended (${line.reason === 'max' ? `--max ${o.max} reached` : line.reason === 'duration' ? '--duration over' : 'closed'}): ${line.events} request${line.events === 1 ? '' : 's'} shown, ${line.dropped} not sampled (rate bound)`);
            return 0;
          }
        }
        if (events >= o.max) return 0;
      }
    } catch (e) {
      if (abort.signal.aborted) return 0;
      err(`petrel tap: the stream broke: ${(e as Error).message}`);
      return 1;
    }
    return 0;
  } finally {
    clearTimeout(guard);
    process.off('SIGINT', onSignal);
    abort.abort();
  }
}

/** One line per request; with an explanation, an indented second line. */
export function formatTapEvent(e: TapEvent): string[] {
  const arrow = e.direction === 'inbound' ? `${e.peer || '?'} -> ${e.service}` : `${e.service} -> ${e.peer || '?'}`;
  const grpc = e.grpc_status === '' ? '' : ` grpc=${e.grpc_status}`;
  const line = `${e.time} ${e.direction === 'inbound' ? 'in ' : 'out'} ${arrow} ${e.method} ${e.authority}${e.path} route=${e.route || '-'} `
    + `${e.status}${grpc} flags=${e.flags} attempts=${e.attempts} upstream=${shortUpstream(e.upstream)} ${e.duration_ms}ms`;
  return e.explanation === undefined ? [line] : [line, `    ${e.explanation}`];
}

/** "payments.default endpoint payments-0" -> "payments-0": the endpoint, one word for the line. */
function shortUpstream(label: string): string {
  return label === '' ? '-' : label.replace(/^.* endpoint /, '').replace(/ /g, ':');
}
