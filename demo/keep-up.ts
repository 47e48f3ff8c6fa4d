// The end of `petrel demo` for a person: instead of tearing the mesh down, keep it up (with a light
// load, so the web view's numbers keep moving) until Enter, Ctrl-C or SIGTERM. Only on a terminal,
// or with --keep: scripts and CI run the demo without one and it ends by itself, as it always did.
import { createInterface } from 'node:readline';

export interface KeepUpOptions {
  /** The web view's address. */
  url: string;
  /** One round of light load; its failures are the mesh's business, not the waiting's. */
  load: () => Promise<unknown>;
  out: (line: string) => void;
  input?: NodeJS.ReadableStream;
  /** Pause between load rounds. */
  pauseMs?: number;
}

/** True when the demo should wait for the person at the terminal. */
export function shouldKeepUp(keep: boolean | undefined, stdinIsTty: boolean | undefined = process.stdin.isTTY): boolean {
  return keep === true || stdinIsTty === true;
}

export async function keepUp(o: KeepUpOptions): Promise<void> {
  const input = o.input ?? process.stdin;
  o.out(`The mesh stays up, under light load, so you can look at it: ${o.url}`);
  o.out('Press Enter to stop it (or Ctrl-C).');
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await o.load().catch(() => undefined);
      await new Promise((r) => setTimeout(r, o.pauseMs ?? 200));
    }
  })();
  await new Promise<void>((resolve) => {
    const lines = createInterface({ input });
    const done = () => {
      lines.close();
      // A terminal or pipe on stdin would keep the process alive after the mesh is gone.
      (input as { unref?: () => void }).unref?.();
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    // Enter ends it; the end of input does not (--keep with no stdin waits for a signal).
    lines.once('line', done);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  stopped = true;
  await loop;
  o.out('Stopping the mesh.');
}
