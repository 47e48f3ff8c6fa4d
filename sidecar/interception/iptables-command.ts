// `petrel iptables`: run once per pod by the injected init container (as root with NET_ADMIN), or
// by hand with --dry-run to see the rules.
import { applyInterception, IptablesError, removeInterception, type IptablesBackend } from './iptables.ts';
import { interceptionRules, parsePortList, type InterceptionOptions } from './iptables-rules.ts';

export interface IptablesCommandOptions {
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  skipInboundPorts: string;
  skipOutboundPorts: string;
  dryRun: boolean;
  cleanup: boolean;
  backend: IptablesBackend | undefined;
}

export async function runIptables(o: IptablesCommandOptions): Promise<number> {
  let options: InterceptionOptions;
  try {
    options = {
      proxyUid: o.proxyUid, inboundPort: o.inboundPort, outboundPort: o.outboundPort, adminPort: o.adminPort,
      skipInboundPorts: parsePortList('--skip-inbound-ports', o.skipInboundPorts),
      skipOutboundPorts: parsePortList('--skip-outbound-ports', o.skipOutboundPorts),
    };
  } catch (err) {
    process.stderr.write(`petrel iptables: ${(err as Error).message}\n`);
    return 2;
  }
  if (o.dryRun) {
    process.stdout.write(o.cleanup
      ? '# would delete the PREROUTING/OUTPUT jumps to PETREL_INBOUND/PETREL_OUTPUT, then flush and delete the PETREL_* nat chains\n'
      : `# iptables-restore --noflush input (nat table)\n${interceptionRules(options)}`);
    return 0;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (o.cleanup) await removeInterception({ backend: o.backend, log });
    else await applyInterception(options, { backend: o.backend, log });
    return 0;
  } catch (err) {
    if (!(err instanceof IptablesError)) throw err;
    process.stderr.write(`petrel iptables: ${err.message}\n`);
    return 1;
  }
}
