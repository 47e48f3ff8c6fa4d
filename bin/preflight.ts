// Checks of the files and directories a command's flags name, made before anything starts, so a
// typo in a path is one line naming the flag, not a stack trace from deep inside a start-up.
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { CliError, fileFailure } from './cli-errors.ts';

/** The file must exist, be a file and be readable. */
export async function requireFile(path: string, flag: string, hint: string): Promise<void> {
  try {
    if ((await stat(path)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    await access(path, constants.R_OK);
  } catch (err) {
    throw fileFailure(err, flag, path, hint);
  }
}

/** The directory must exist, be a directory and be listable. */
export async function requireDirectory(path: string, flag: string, hint: string): Promise<void> {
  try {
    if (!(await stat(path)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await readdir(path);
  } catch (err) {
    throw fileFailure(err, flag, path, hint);
  }
}

/** Reads a --token-file: the shared secret (or projected token) the control plane expects. */
export async function readTokenFile(path: string): Promise<string> {
  const hint = 'write the token the control plane expects into it, or fix the path';
  let token: string;
  try {
    if ((await stat(path)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw fileFailure(err, '--token-file', path, hint);
  }
  if (token === '') throw new CliError('PETREL_TOKEN_EMPTY', `--token-file ${path}: is empty; ${hint}`);
  return token;
}
