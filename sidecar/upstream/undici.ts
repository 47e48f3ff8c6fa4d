// undici's Pool and Agent, loaded without the rest of the package. `import 'undici'` also parses
// fetch, WebSocket, EventSource and the caches, which costs a sidecar about 13 MB of RSS for code it
// never runs (measured: 28.8 MB for the package index vs 15.6 MB for these two files). The types
// still come from the package's own declarations.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Pool = Undici.Pool;
export type Agent = Undici.Agent;
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector;
export type Connector = Undici.buildConnector.connector;
