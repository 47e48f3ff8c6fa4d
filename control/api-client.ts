// How the CLI's read commands (`petrel check`, `petrel stat`) talk to the control plane's API port:
// the token from --token-file, GET with a bearer, and an error sentence that says what to do.
import { readFile } from 'node:fs/promises';

/** A CLI read that failed; `code` is stable, the message is the line printed. */
export class ControlApiError extends Error {
  readonly code: 'PETREL_TOKEN_FILE' | 'PETREL_CONTROL_UNREACHABLE' | 'PETREL_CONTROL_HTTP';
  readonly status: number | undefined;
  constructor(code: ControlApiError['code'], message: string, status?: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export async function readApiToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile === undefined) return undefined;
  const token = await readFile(tokenFile, 'utf8').then((t) => t.trim(), (err: Error) => {
    throw new ControlApiError('PETREL_TOKEN_FILE', `cannot read --token-file ${tokenFile}: ${err.message}`);
  });
  if (token === '') throw new ControlApiError('PETREL_TOKEN_FILE', `${tokenFile} is empty; a token file holds the shared secret`);
  return token;
}

/** GET `path` and discard the body: for /ready, which answers text. */
export async function probe(control: string, path: string, timeoutMs = 5000): Promise<void> {
  const url = new URL(path, control);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw unreachable(url, err);
  }
  await res.arrayBuffer();
  if (!res.ok) throw new ControlApiError('PETREL_CONTROL_HTTP', `${url.href}: HTTP ${res.status}`, res.status);
}

function unreachable(url: URL, err: unknown): ControlApiError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new ControlApiError('PETREL_CONTROL_UNREACHABLE', `cannot reach ${url.href}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
}

/** GET `path` from the API; throws ControlApiError naming the URL, the status and a hint. */
export async function getJson<T>(control: string, path: string, token: string | undefined, timeoutMs = 5000): Promise<T> {
  const url = new URL(path, control);
  let res: Response;
  try {
    res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw unreachable(url, err);
  }
  if (!res.ok) {
    const detail = ((await res.json().catch(() => ({}))) as { error?: unknown }).error;
    const hint = res.status === 401 ? (token === undefined ? ' (pass --token-file with the control plane\'s token)' : ' (the token in --token-file is not the control plane\'s)') : '';
    throw new ControlApiError('PETREL_CONTROL_HTTP', `${url.href}: HTTP ${res.status}${typeof detail === 'string' ? `: ${detail}` : ''}${hint}`, res.status);
  }
  return await res.json() as T;
}
