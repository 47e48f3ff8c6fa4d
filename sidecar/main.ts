// `petrel sidecar`: start, then wait for signals. SIGTERM/SIGINT drain and exit 0; SIGHUP reloads --config.
import { ConfigRejectedError } from './config/config-store.ts';
import { Sidecar, type SidecarOptions } from './sidecar.ts';

export async function runSidecar(options: SidecarOptions): Promise<void> {
  const sidecar = new Sidecar(options);
  try {
    await sidecar.start();
  } catch (err) {
    if (err instanceof ConfigRejectedError) {
      // At start there is no previous config to keep: one line per issue, each with file and line.
      for (const issue of err.issues) process.stderr.write(`petrel sidecar: cannot start with this --config: ${issue}\n`);
      process.exit(1);
    }
    throw err;
  }
  const stop = (signal: string) => {
    sidecar.log.info({ signal }, 'shutting down');
    sidecar.stop().then(() => process.exit(0), (err: unknown) => {
      sidecar.log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void sidecar.reload());
}
