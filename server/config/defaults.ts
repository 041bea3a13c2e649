/**
 * The server's configuration keys: defaults, their TypeScript shape and the JSON schema each
 * value must satisfy, wherever it comes from (env var, config file, an update).
 * The first six keys and their order are the original NETunnel's (wire spec §3.1).
 */
import envSchema from 'env-schema';
import type { AccessList } from '../access-list.js';

export interface HttpProxyConfig {
  proxy_url: string | null;
  /** Fernet token, or null/empty when the proxy needs no credentials. */
  username?: string | null;
  password?: string | null;
  [key: string]: unknown;
}

export interface StaticTunnelConfig {
  id?: number;
  tunnel_local_address?: string;
  tunnel_local_port?: number;
  tunnel_remote_address?: string;
  tunnel_remote_port: number;
  [key: string]: unknown;
}

export interface PeerConfig {
  id?: number;
  name: string;
  target_netunnel_url: string;
  /** Whatever the auth plugin's `dump_object()` returned: a Fernet token of its JSON (plain in hand-written files). */
  auth_data?: Record<string, unknown> | string | null;
  static_tunnels?: StaticTunnelConfig[];
  [key: string]: unknown;
}

/**
 * The SSH front door (design.md §6); present = enabled unless `enabled` is false. The
 * --ssh-* flags override each value. Relative paths are relative to the config file.
 */
export interface SshConfig {
  enabled?: boolean;
  /** Default: the server's --hostname. */
  host?: string;
  /** Default 1878; 0 picks a free port. */
  port?: number;
  /** Default `ssh_host_key` beside the config file; generated if missing. */
  host_key?: string;
  authorized_keys: string;
  /** Virtual ports (`ssh -R`) one key may hold at once, over all its connections. */
  max_forwards_per_key?: number;
  /** Circuits (`ssh -W/-L/-D/-J`) one key may have open at once, over all its connections. */
  max_circuits_per_key?: number;
  /** The reverse proxy by user name: where keys with access="proxy" log in (first matching rule wins). */
  upstreams?: SshUpstreamConfig[];
}

/**
 * One reverse-proxy rule: a login name (`login`, exact) or pattern (`login_pattern`, with named
 * captures that `host` and `user` may use as `$<name>`) mapped to an upstream SSH server.
 */
export interface SshUpstreamConfig {
  login?: string;
  login_pattern?: string;
  /** A registry name or an allowed address. */
  host: string;
  /** Default 22. */
  port?: number;
  /** Default: the pattern's `user` capture, else the login name. */
  user?: string;
  /** The private key the server logs in upstream with (a file; never logged). */
  private_key: string;
  /** OpenSSH known_hosts file the upstream's host key must be in. */
  known_hosts: string;
  /** Learn the key of a host not yet in known_hosts (appended); default false. */
  trust_on_first_use?: boolean;
  /** Let a client's `ssh -A` agent be used upstream (unless its key has no-agent-forwarding); default false. */
  agent_forwarding?: boolean;
}

/** Address → comma-separated ports, or `*` for all (wire spec §3.3). */
export interface ServerConfig {
  allowed_tunnel_destinations: AccessList;
  http_proxy: HttpProxyConfig | null;
  http_proxy_test_url: string;
  peers: PeerConfig[];
  allow_unverified_ssl_peers: boolean;
  revision: number;
  /** netunnel: where reverse tunnels may listen; same syntax as the destinations. */
  allowed_tunnel_entrances: AccessList;
  max_channels: number;
  max_tunnels_per_channel: number;
  /** Seconds a created channel may wait for its websocket before it is dropped. */
  channel_connect_timeout: number;
  /** Seconds between end-to-end checks of a running static tunnel; a failed check restarts it. */
  static_tunnel_health_check_interval: number;
  /** Present only when the server generated the key itself (or the operator wrote one). */
  secret_key?: string;
  /** netunnel, optional: names (→ ports) named reverse tunnels may register; absent = none. */
  allowed_tunnel_names?: AccessList;
  /** netunnel, optional: the SSH front door. */
  ssh?: SshConfig;
  /** Keys we do not know (a newer version's, an operator's note) are kept and saved back. */
  [key: string]: unknown;
}

export type ConfigKey = keyof ServerConfig & string;

/** A fresh copy every call: callers may mutate it. */
export function defaultConfig(): ServerConfig {
  return {
    allowed_tunnel_destinations: { '127.0.0.1': '*' },
    http_proxy: null,
    http_proxy_test_url: 'https://google.com',
    peers: [],
    allow_unverified_ssl_peers: false,
    revision: 1,
    allowed_tunnel_entrances: { '127.0.0.1': '*', '::1': '*' },
    max_channels: 1000,
    max_tunnels_per_channel: 100,
    channel_connect_timeout: 30,
    static_tunnel_health_check_interval: 30,
  };
}

/** The keys that have a default (and an env var), in file order. */
export const DEFAULT_KEYS: readonly string[] = Object.freeze(Object.keys(defaultConfig()));

// ---- Schemas ----------------------------------------------------------------------------
// Types are checked strictly (no coercion); semantics (unique peer names, reachable URLs) are
// the business of the code that owns each key.

/** One port, 1 to 65535, or `*`: the original reads each with int(), and a typo would allow nothing, silently. */
const PORT_OR_ANY = '(\\*|6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';
/** Ports for one address; empty lists the address with no port (the original's own tests do). */
const portsList = { type: 'string', pattern: `^ *(${PORT_OR_ANY}( *, *${PORT_OR_ANY})*)? *$` } as const;
const addressPortsMap = { type: 'object', additionalProperties: portsList } as const;
const nullableString = { type: ['string', 'null'] } as const;
const portOrZero = { type: 'integer', minimum: 0, maximum: 65535 } as const;

const staticTunnel = {
  type: 'object',
  required: ['tunnel_remote_port'],
  properties: {
    id: { type: 'integer' },
    tunnel_local_address: { type: 'string' },
    tunnel_local_port: portOrZero,
    tunnel_remote_address: { type: 'string' },
    tunnel_remote_port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const;

const positiveInteger = { type: 'integer', minimum: 1 } as const;

/**
 * The most seconds a timer setting may hold. Node's timers take at most 2^31-1 ms (about 24.8
 * days); a longer delay is replaced by 1 ms with only a TimeoutOverflowWarning, so a huge
 * timeout would expire everything at once instead of never.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** Every setting in seconds that the server hands to a timer. */
const timerSeconds = { type: 'number', exclusiveMinimum: 0, maximum: MAX_TIMER_SECONDS } as const;
const nonEmptyString = { type: 'string', minLength: 1 } as const;

const sshSection = {
  type: 'object',
  required: ['authorized_keys'],
  // A misspelt key would otherwise be a silently ignored setting.
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    host: nonEmptyString,
    port: portOrZero,
    host_key: nonEmptyString,
    authorized_keys: nonEmptyString,
    max_forwards_per_key: positiveInteger,
    max_circuits_per_key: positiveInteger,
    upstreams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['host', 'private_key', 'known_hosts'],
        additionalProperties: false,
        // Exactly one way of matching the login name.
        oneOf: [{ required: ['login'] }, { required: ['login_pattern'] }],
        properties: {
          login: nonEmptyString,
          login_pattern: nonEmptyString,
          host: nonEmptyString,
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          user: nonEmptyString,
          private_key: nonEmptyString,
          known_hosts: nonEmptyString,
          trust_on_first_use: { type: 'boolean' },
          agent_forwarding: { type: 'boolean' },
        },
      },
    },
  },
} as const;

const peer = {
  type: 'object',
  required: ['name', 'target_netunnel_url'],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string', minLength: 1 },
    target_netunnel_url: { type: 'string', minLength: 1 },
    // The original's example config has `auth_data: null`.
    auth_data: { type: ['object', 'string', 'null'] },
    static_tunnels: { type: 'array', items: staticTunnel },
  },
} as const;

export const KEY_SCHEMAS: Readonly<Record<string, object>> = Object.freeze({
  allowed_tunnel_destinations: addressPortsMap,
  http_proxy: {
    type: ['object', 'null'],
    properties: { proxy_url: nullableString, username: nullableString, password: nullableString },
  },
  http_proxy_test_url: { type: 'string', minLength: 1 },
  peers: { type: 'array', items: peer },
  allow_unverified_ssl_peers: { type: 'boolean' },
  revision: { type: 'integer' },
  allowed_tunnel_entrances: addressPortsMap,
  max_channels: { type: 'integer', minimum: 1 },
  max_tunnels_per_channel: { type: 'integer', minimum: 1 },
  channel_connect_timeout: timerSeconds,
  static_tunnel_health_check_interval: timerSeconds,
  secret_key: { type: 'string' },
  allowed_tunnel_names: addressPortsMap,
  ssh: sshSection,
});

// ---- Validation -------------------------------------------------------------------------

/** One schema violation, phrased for a human, e.g. `expected an integer, got "abc"`. */
export interface ValueProblem {
  /** The property of the validated object that holds the bad value. */
  name: string;
  /** JSON pointer inside that value, '' when the value itself is wrong. */
  pointer: string;
  problem: string;
}

/** `at /0/name: expected a string, got 5`, or just the problem for the value itself. */
export function problemText(p: ValueProblem): string {
  return p.pointer ? `at ${p.pointer}: ${p.problem}` : p.problem;
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  /** Present because we ask ajv to be verbose. */
  data?: unknown;
}

/**
 * Validates `values` (property name → value) against `schemas` (property name → schema)
 * through env-schema, so env vars and file values obey the same rules.
 * Names in `required` must be present. Returns the first problem, or undefined.
 */
export function findProblem(
  values: Record<string, unknown>,
  schemas: Readonly<Record<string, object>>,
  required: readonly string[] = [],
): ValueProblem | undefined {
  const known = Object.fromEntries(Object.entries(values).filter(([name]) => name in schemas));
  try {
    envSchema({ schema: objectSchema(schemas, required), data: known, env: false, ajv: strictAjv() });
    return undefined;
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors;
    if (!errors?.length) throw err;
    return describe(pickError(errors));
  }
}

type EnvSchemaAjv = NonNullable<envSchema.EnvSchemaOpt['ajv']>;
type AjvInstance = Extract<EnvSchemaAjv, { compile: unknown }>;

/** env-schema's defaults coerce ("5" passes as 5) and strip; config values must be taken as written. */
const STRICT_AJV_OPTIONS = {
  allErrors: true,
  allowUnionTypes: true,
  addUsedSchema: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
  verbose: true,
};

let sharedAjv: AjvInstance | undefined;

/**
 * One Ajv instance, built from the class env-schema itself uses (we do not depend on ajv
 * directly), so that compiled schemas are cached: compiling costs ~20 ms of event loop.
 */
function strictAjv(): EnvSchemaAjv {
  return (
    sharedAjv ?? {
      customOptions: (base: AjvInstance) => {
        const AjvClass = base.constructor as new (options: object) => AjvInstance;
        sharedAjv = new AjvClass(STRICT_AJV_OPTIONS);
        return sharedAjv;
      },
    }
  );
}

const objectSchemas = new WeakMap<object, Map<string, object>>();

/** The same object each time, since Ajv caches by schema identity (env-schema's edit of it is idempotent). */
function objectSchema(schemas: Readonly<Record<string, object>>, required: readonly string[]): object {
  const byRequired = objectSchemas.get(schemas) ?? new Map<string, object>();
  objectSchemas.set(schemas, byRequired);
  const cacheKey = required.join('\0');
  let schema = byRequired.get(cacheKey);
  if (schema === undefined) {
    schema = { type: 'object', required: [...required], properties: structuredClone(schemas) };
    byRequired.set(cacheKey, schema);
  }
  return schema;
}

/** A type mismatch says most; prefer it over the union noise ajv adds around it. */
function pickError(errors: AjvError[]): AjvError {
  return errors.find((e) => e.keyword === 'type') ?? errors[0]!;
}

function describe(error: AjvError): ValueProblem {
  const [, first = '', ...rest] = error.instancePath.split('/');
  if (error.keyword === 'required' && first === '') {
    return { name: String(error.params.missingProperty), pointer: '', problem: 'is missing' };
  }
  const name = decodePointer(first);
  const got = error.keyword === 'required' ? '' : `, got ${shortJson(error.data)}`;
  return { name, pointer: rest.length ? `/${rest.join('/')}` : '', problem: phrase(error) + got };
}

function decodePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function phrase(error: AjvError): string {
  switch (error.keyword) {
    case 'type':
      return `expected ${describeTypes(error.params.type)}`;
    case 'required':
      return `missing required property "${String(error.params.missingProperty)}"`;
    case 'minLength':
      return 'expected a non-empty string';
    case 'additionalProperties':
      return `unknown property "${String(error.params.additionalProperty)}"`;
    case 'pattern':
      if (error.params.pattern === portsList.pattern) return 'expected ports: "*", a comma-separated list of ports from 1 to 65535, or "" for none';
      return error.message ?? 'does not match its pattern';
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
      return `expected a number ${String(error.params.comparison)} ${String(error.params.limit)}${limitReason(error)}`;
    default:
      return error.message ?? `fails "${error.keyword}"`;
  }
}

/** A limit that is not obvious from the setting says where it comes from. */
function limitReason(error: AjvError): string {
  return error.keyword === 'maximum' && error.params.limit === MAX_TIMER_SECONDS ? ' (seconds; the longest timer Node.js can set)' : '';
}

export function describeTypes(type: unknown): string {
  const names = Array.isArray(type) ? type : String(type).split(',');
  return names.map((name: string) => TYPE_NAMES[name] ?? name).join(' or ');
}

/** For messages: a value as the user wrote it, kept to one short line. */
export function shortJson(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
