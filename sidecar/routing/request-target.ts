// Where a request is going, from its request line and Host header: origin-form ("/path" with
// Host: payments) as an app sends it through iptables or with Host set, and absolute-form
// ("http://payments/path") as an app sends it to an HTTP proxy (HTTP_PROXY=http://127.0.0.1:15001).

export interface RequestTarget {
  /** Lower-case host without port or brackets. */
  host: string;
  /** The port the client named, or undefined when it named none. */
  port: number | undefined;
  /** host[:port] as it should appear in the Host header upstream. */
  authority: string;
  /** origin-form path and query. */
  path: string;
  /** True when the request line carried the authority (proxy form). */
  absoluteForm: boolean;
}

export function parseAuthority(authority: string): { host: string; port: number | undefined } | undefined {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return undefined;
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  if (host === '' || /[\s/@]/.test(host)) return undefined;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host: host.toLowerCase(), port };
}

/**
 * Where the request goes, or why it cannot be read (answered 400 DPE at the listener: the client's
 * mistake, never an upstream's). Only origin-form and absolute-form http:// targets are proxied;
 * `*`, authority-form outside CONNECT, other schemes, userinfo and fragments are refused.
 */
export function requestTarget(url: string, hostHeader: string | undefined): RequestTarget | string {
  if (url.includes('#')) return 'the request target must not carry a fragment (#)';
  if (url.charCodeAt(0) === 47 /* "/" */) {
    if (hostHeader === undefined) return 'the request has no Host header';
    const parsed = parseAuthority(hostHeader);
    return parsed === undefined ? `the Host header "${hostHeader}" is not host[:port]` : { ...parsed, authority: hostHeader, path: url, absoluteForm: false };
  }
  if (!url.toLowerCase().startsWith('http://')) {
    return `the request target "${url.slice(0, 64)}" is neither origin-form (/path) nor absolute-form (http://host/path)`;
  }
  const slash = url.indexOf('/', 7);
  const query = url.indexOf('?', 7);
  const end = slash < 0 ? (query < 0 ? url.length : query) : query < 0 ? slash : Math.min(slash, query);
  const authority = url.slice(7, end);
  const parsed = parseAuthority(authority);
  if (parsed === undefined) return `the authority "${authority.slice(0, 64)}" in the request target is not host[:port]`;
  const rest = url.slice(end);
  return { ...parsed, authority, path: rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest, absoluteForm: true };
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
