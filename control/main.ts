// `petrel control`: start, then wait for SIGTERM/SIGINT.
import { pino } from 'pino';
import { ControlPlane, type ControlPlaneOptions } from './control-plane.ts';

export async function runControl(options: Omit<ControlPlaneOptions, 'log'>, logLevel: string): Promise<void> {
  const control = new ControlPlane({ ...options, log: pino({ level: logLevel, base: { component: 'control' } }) });
  await control.start();
  const stop = () => control.stop().then(() => process.exit(0), () => process.exit(1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
