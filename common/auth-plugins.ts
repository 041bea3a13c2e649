import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClientAuth, ServerAuth } from './auth.js';
import { NetunnelError, errorMessage } from './errors.js';
import { SharedSecretClientAuth } from './shared-secret-client.js';
import { SharedSecretServerAuth } from './shared-secret-server.js';

/**
 * Loads an auth plugin for the command-line tools from `--auth-plugin SPEC` and
 * `--auth-data JSON`. SPEC is `shared-secret` (built in), or a module path or package
 * with an optional `:ExportName` (default: the default export); the export is a class,
 * constructed with the auth data object.
 */

type Side = 'server' | 'client';
type PluginClass = new (authData: Record<string, unknown>) => unknown;

const BUILT_IN: Record<string, Record<Side, PluginClass>> = {
  'shared-secret': {
    server: SharedSecretServerAuth as unknown as PluginClass,
    client: SharedSecretClientAuth as unknown as PluginClass,
  },
};

const REQUIRED_METHODS: Record<Side, string[]> = {
  server: ['isAuthenticated', 'authenticate', 'getClientForPeer'],
  client: ['authenticate', 'isAuthenticated', 'getAuthorizedHeaders', 'dumpObject'],
};

/** The server plugin the flags ask for; undefined without --auth-plugin. Throws NetunnelError('BAD_REQUEST'). */
export function loadServerAuth(spec: string | undefined, authData: string | undefined, cwd = process.cwd()): Promise<ServerAuth | undefined> {
  return loadAuthPlugin('server', spec, authData, cwd) as Promise<ServerAuth | undefined>;
}

/** The client plugin the flags ask for; undefined without --auth-plugin. Throws NetunnelError('BAD_REQUEST'). */
export function loadClientAuth(spec: string | undefined, authData: string | undefined, cwd = process.cwd()): Promise<ClientAuth | undefined> {
  return loadAuthPlugin('client', spec, authData, cwd) as Promise<ClientAuth | undefined>;
}

async function loadAuthPlugin(side: Side, spec: string | undefined, authData: string | undefined, cwd: string): Promise<unknown> {
  if (spec === undefined) {
    if (authData !== undefined) throw bad('--auth-data needs --auth-plugin');
    return undefined;
  }
  const data = parseAuthData(authData);
  const Plugin = BUILT_IN[spec]?.[side] ?? (await importClass(spec, cwd));
  let plugin: unknown;
  try {
    plugin = new Plugin(data);
  } catch (err) {
    throw bad(`--auth-plugin ${spec} refused its --auth-data: ${firstLine(err)}`, err);
  }
  const missing = REQUIRED_METHODS[side].filter((name) => typeof (plugin as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw bad(`--auth-plugin ${spec} is not a ${side} auth plugin: it lacks ${missing.map((name) => `${name}()`).join(', ')}`);
  return plugin;
}

export function parseAuthData(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (err) {
    throw bad(`--auth-data is not valid JSON: ${firstLine(err)}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('--auth-data must be a JSON object, e.g. {"secret": "..."}');
  return data as Record<string, unknown>;
}

async function importClass(spec: string, cwd: string): Promise<PluginClass> {
  // The export name follows the last colon, when it is an identifier (so "C:\x" or "node:y" stay whole).
  const named = /^(.+):([A-Za-z_$][\w$]*)$/.exec(spec);
  const [module, exportName] = named ? [named[1]!, named[2]!] : [spec, 'default'];
  let exports: Record<string, unknown>;
  try {
    exports = (await import(resolveModule(module, cwd))) as Record<string, unknown>;
  } catch (err) {
    throw bad(`--auth-plugin ${spec}: cannot load the module ${module}: ${firstLine(err)}`, err);
  }
  const exported = exports[exportName];
  if (exported === undefined) {
    throw bad(`--auth-plugin ${spec}: the module ${module} has no ${exportName === 'default' ? 'default export (name one: MODULE:ExportName)' : `export named ${exportName}`}`);
  }
  if (!isClass(exported)) {
    throw bad(`--auth-plugin ${spec}: the export ${exportName} of ${module} is not a class`);
  }
  return exported;
}

/** A path is taken from the current folder; a package is looked for from there first, then beside netunnel. */
function resolveModule(module: string, cwd: string): string {
  if (module.startsWith('.') || isAbsolute(module)) return pathToFileURL(resolve(cwd, module)).href;
  if (module.startsWith('file:')) return module;
  try {
    const resolved = createRequire(join(cwd, 'package.json')).resolve(module);
    // Built-in modules (node:...) resolve to themselves.
    return isAbsolute(resolved) ? pathToFileURL(resolved).href : resolved;
  } catch {
    return module;
  }
}

/** A class, or an old-style constructor with methods on its prototype: not any function that happens to be constructible. */
function isClass(value: unknown): value is PluginClass {
  if (typeof value !== 'function' || value.prototype === undefined) return false;
  return /^class\b/.test(Function.prototype.toString.call(value)) || Object.getOwnPropertyNames(value.prototype).length > 1;
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]!;
}

function bad(message: string, cause?: unknown): NetunnelError {
  return new NetunnelError('BAD_REQUEST', message, cause === undefined ? undefined : { cause });
}
