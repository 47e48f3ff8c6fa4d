// How a petrel command fails: one line on stderr saying what went wrong, where, and what to do,
// then exit 1. A stack trace tells a user nothing they can act on, so errors Petrel knows (stable
// codes) become a sentence, and an unknown one becomes its message plus a pointer to PETREL_DEBUG=1,
// which prints the stack as well.

export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A socket a command listens on, with the flags that choose it, for naming it in an error. */
export interface ListenerSpec {
  what: string;
  host: string;
  port: number;
  portFlag: string;
  hostFlag: string;
}

interface SystemError extends Error {
  code?: string;
  port?: number;
  address?: string;
  path?: string;
  syscall?: string;
}

function systemError(err: unknown): SystemError | undefined {
  return err instanceof Error && typeof (err as SystemError).code === 'string' ? (err as SystemError) : undefined;
}

/** Names the listener a failed listen() belongs to, or undefined when the error is not one. */
export function listenFailure(err: unknown, listeners: readonly ListenerSpec[]): CliError | undefined {
  const e = systemError(err);
  if (e === undefined || e.syscall !== 'listen' && e.syscall !== 'bind') return undefined;
  // Several listeners may share a port number (0, or one port on two hosts): the address decides.
  // Node leaves the port out of the error when it was 0.
  const candidates = listeners.filter((candidate) => e.port === undefined ? candidate.port === 0 : candidate.port === e.port);
  const l = candidates.find((candidate) => candidate.host === e.address) ?? (e.port === undefined ? undefined : candidates[0]);
  if (l === undefined) return undefined;
  const which = `port ${l.port} (${l.what}, ${l.portFlag})`;
  switch (e.code) {
    case 'EADDRINUSE':
      return new CliError('PETREL_PORT_IN_USE', `${which} is already in use on ${l.host}; stop the other process or choose another port`);
    case 'EACCES':
      return new CliError('PETREL_PORT_DENIED', `${which} needs privileges this process lacks on ${l.host}; choose a port above 1023`);
    case 'EADDRNOTAVAIL':
      return new CliError('PETREL_ADDRESS_NOT_LOCAL', `cannot listen on ${l.host} (${l.what}, ${l.hostFlag}): not an address of this machine; choose a local address such as 127.0.0.1 or 0.0.0.0`);
    default:
      return undefined;
  }
}

/** Explains why the file or directory a flag names cannot be used. */
export function fileFailure(err: unknown, flag: string, path: string, hint: string): CliError {
  const code = systemError(err)?.code;
  const where = `${flag} ${path}`;
  switch (code) {
    case 'ENOENT':
      return new CliError('PETREL_FILE_NOT_FOUND', `${where}: no such file or directory; ${hint}`);
    case 'EACCES':
    case 'EPERM':
      return new CliError('PETREL_FILE_UNREADABLE', `${where}: permission denied for uid ${process.getuid?.() ?? '?'}; make it readable to this user, or ${hint}`);
    case 'EISDIR':
      return new CliError('PETREL_FILE_IS_DIRECTORY', `${where}: is a directory, not a file; ${hint}`);
    case 'ENOTDIR':
      return new CliError('PETREL_NOT_A_DIRECTORY', `${where}: is not a directory; ${hint}`);
    default:
      return new CliError('PETREL_FILE_UNREADABLE', `${where}: ${firstLine(err)}; ${hint}`);
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0] ?? text;
}

/** Writes the one line for an error that ended a command, and exits 1. */
export function exitWithError(command: string, err: unknown): never {
  const debug = process.env.PETREL_DEBUG === '1';
  const prefix = command === '' ? 'petrel' : `petrel ${command}`;
  if (err instanceof CliError) {
    process.stderr.write(`${prefix}: ${err.message}\n`);
  } else {
    const code = systemError(err)?.code;
    const hint = debug ? '' : ' (run with PETREL_DEBUG=1 for the stack)';
    process.stderr.write(`${prefix}: ${firstLine(err)}${code === undefined ? '' : ` [${code}]`}${hint}\n`);
  }
  if (debug && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
