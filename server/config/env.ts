/**
 * `NETUNNEL_<KEY>` environment variables: JSON values replacing a key's default (wire spec
 * §3.2), or giving an optional key (`allowed_tunnel_names`, `ssh`) a value where the file has
 * none. Unlike the original, a bad value is refused with one line naming the variable,
 * instead of a traceback and a server that never listens.
 */
import { NetunnelError, errorMessage } from '../../common/errors.js';
import { KEY_SCHEMAS, describeTypes, findProblem, problemText } from './defaults.js';
import type { ServerConfig } from './defaults.js';

export const ENV_PREFIX = 'NETUNNEL_';
/** A raw Fernet key, not JSON; used in memory only, never written to the file. */
export const SECRET_KEY_ENV = 'NETUNNEL_SECRET_KEY';

/**
 * The keys a variable may set: every key with a schema but `secret_key`, whose variable is a
 * raw Fernet key (SECRET_KEY_ENV). The original's keys first, in file order.
 */
export const ENV_KEYS: readonly string[] = Object.freeze(Object.keys(KEY_SCHEMAS).filter((key) => key !== 'secret_key'));

export function envVarName(key: string): string {
  return ENV_PREFIX + key.toUpperCase();
}

/** Variable name → schema; one object for good, so its compiled validator is reused. */
const ENV_SCHEMAS: Readonly<Record<string, object>> = Object.freeze(
  Object.fromEntries(ENV_KEYS.map((key) => [envVarName(key), KEY_SCHEMAS[key]!])),
);

/**
 * The configuration keys set through the environment, validated.
 * An empty variable counts as unset, as `Environment=NETUNNEL_PEERS=` in a systemd unit means.
 */
export function readEnvConfig(env: NodeJS.ProcessEnv = process.env): Partial<ServerConfig> {
  const byVar: Record<string, unknown> = {};
  for (const key of ENV_KEYS) {
    const name = envVarName(key);
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== '') byVar[name] = parseEnvJson(name, key, raw);
  }
  const problem = findProblem(byVar, ENV_SCHEMAS);
  if (problem) throw new NetunnelError('CONFIG_INVALID', `${problem.name}: ${problemText(problem)}`);
  return Object.fromEntries(
    ENV_KEYS.filter((key) => envVarName(key) in byVar).map((key) => [key, byVar[envVarName(key)]]),
  ) as Partial<ServerConfig>;
}

export function readEnvSecretKey(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env[SECRET_KEY_ENV]?.trim();
  return raw ? raw : undefined;
}

function parseEnvJson(name: string, key: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new NetunnelError('CONFIG_INVALID', `${name}: ${notJsonText(key, raw, err)}`);
  }
}

const SCALAR_TYPES = new Set(['integer', 'number', 'boolean']);

function notJsonText(key: string, raw: string, err: unknown): string {
  const type = (KEY_SCHEMAS[key] as { type?: unknown }).type;
  // For a number or a boolean, "not JSON" is a roundabout way to say "not a number".
  if (typeof type === 'string' && SCALAR_TYPES.has(type)) {
    return `expected ${describeTypes(type)}, got ${JSON.stringify(raw)}`;
  }
  const reason = errorMessage(err).replace(/\s+/g, ' ');
  const hint = type === 'string' ? `; a string must be in double quotes, e.g. ${envVarName(key)}='${JSON.stringify(raw)}'` : '';
  return `not valid JSON (${reason})${hint}`;
}
