// The nat rules that make interception transparent, as iptables-restore input. Kept pure (options in,
// text out) so `petrel iptables --dry-run` prints exactly what would be applied and tests can read it.
//
// Inbound (PREROUTING): every TCP connection to the pod goes to the inbound listener, except the
// sidecar's own admin port (kubelet probes it), the inbound listener itself and skipped ports.
// Outbound (OUTPUT): every TCP connection the app opens goes to the outbound listener, except the
// proxy's own (uid 1337: otherwise it would loop into itself), loopback traffic (the sidecar
// forwarding to the app, the app talking to itself) and skipped ports.

export interface InterceptionOptions {
  /** The sidecar runs as this uid; its connections are never redirected. Default 1337. */
  proxyUid: number;
  /** Inbound listener. Default 15006. */
  inboundPort: number;
  /** Outbound listener. Default 15001. */
  outboundPort: number;
  /** Admin port, never redirected (probes and scrapes reach it directly). Default 15000. */
  adminPort: number;
  /** Destination ports on this pod that bypass the inbound listener. Default none. */
  skipInboundPorts: readonly number[];
  /** Destination ports of outgoing connections that bypass the outbound listener. Default none. */
  skipOutboundPorts: readonly number[];
}

export const DEFAULT_INTERCEPTION: InterceptionOptions = {
  proxyUid: 1337,
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15000,
  skipInboundPorts: [],
  skipOutboundPorts: [],
};

export const CHAINS = {
  inbound: 'PETREL_INBOUND',
  inboundRedirect: 'PETREL_IN_REDIRECT',
  outbound: 'PETREL_OUTPUT',
  outboundRedirect: 'PETREL_REDIRECT',
} as const;

/** The jumps from the built-in chains into ours; cleanup deletes exactly these. */
export const JUMPS: readonly (readonly string[])[] = [
  ['PREROUTING', '-p', 'tcp', '-j', CHAINS.inbound],
  ['OUTPUT', '-p', 'tcp', '-j', CHAINS.outbound],
];

/** iptables-restore input for `iptables-restore --noflush`: declaring a chain flushes it. */
export function interceptionRules(o: InterceptionOptions): string {
  const lines = ['*nat'];
  for (const chain of Object.values(CHAINS)) lines.push(`:${chain} - [0:0]`);
  lines.push(`-A ${CHAINS.inboundRedirect} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`);
  lines.push(`-A ${CHAINS.outboundRedirect} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);

  const inboundSkips = unique([o.adminPort, o.inboundPort, ...o.skipInboundPorts]);
  for (const port of inboundSkips) lines.push(`-A ${CHAINS.inbound} -p tcp -m tcp --dport ${port} -j RETURN`);
  lines.push(`-A ${CHAINS.inbound} -p tcp -j ${CHAINS.inboundRedirect}`);

  lines.push(`-A ${CHAINS.outbound} -m owner --uid-owner ${o.proxyUid} -j RETURN`);
  lines.push(`-A ${CHAINS.outbound} -o lo -j RETURN`);
  lines.push(`-A ${CHAINS.outbound} -d 127.0.0.0/8 -j RETURN`);
  for (const port of unique(o.skipOutboundPorts)) lines.push(`-A ${CHAINS.outbound} -p tcp -m tcp --dport ${port} -j RETURN`);
  lines.push(`-A ${CHAINS.outbound} -p tcp -j ${CHAINS.outboundRedirect}`);

  for (const jump of JUMPS) lines.push(`-A ${jump.join(' ')}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Parses "80,443, 8080" into ports; throws naming the flag and the bad item. */
export function parsePortList(flag: string, text: string): number[] {
  if (text.trim() === '') return [];
  return text.split(',').map((item) => {
    const trimmed = item.trim();
    const port = Number(trimmed);
    if (!/^[0-9]+$/.test(trimmed) || port < 1 || port > 65535) {
      throw new Error(`${flag}: "${trimmed}" is not a port (1-65535)`);
    }
    return port;
  });
}

function unique(ports: readonly number[]): number[] {
  return [...new Set(ports)];
}
