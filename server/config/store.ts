/**
 * The server's JSON configuration: defaults ← `NETUNNEL_*` env ← file (shallow), the Fernet
 * key that protects its secrets, and every change saved atomically (wire spec §3, design §5).
 * A file we cannot understand is reported and left alone, never replaced by defaults.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ifPresent, removeStaleTempFiles, writeFileAtomic } from '../../common/atomic-file.js';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import { Fernet } from '../../common/fernet.js';
import { DEFAULT_KEYS, KEY_SCHEMAS, defaultConfig, findProblem, problemText } from './defaults.js';
import type { PeerConfig, ServerConfig } from './defaults.js';
import { SECRET_KEY_ENV, envVarName, readEnvConfig, readEnvSecretKey } from './env.js';
import { encryptedValues, sealPlainProxyCredentials } from './secrets.js';

/** The original's words; the caller prints it (in yellow) when `stateless` is true. */
export const STATELESS_WARNING = 'The server is running in stateless mode. Use --config-path to generate a config file';

/** A new file may come to hold the secret key and encrypted credentials. */
const NEW_FILE_MODE = 0o600;

export interface ConfigStoreOptions {
  /** The config file; without one the store is stateless (memory only). */
  path?: string;
  /** Where `NETUNNEL_*` variables are read (default: process.env); re-read on factory reset. */
  env?: NodeJS.ProcessEnv;
  /** The `-s/--secret-key` flag: used in memory only, never written. */
  secretKey?: string;
  logger: Logger;
}

interface ExternalKey {
  key: string;
  source: string;
}

export class ConfigStore {
  readonly path: string | undefined;
  readonly stateless: boolean;
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: Logger;
  readonly #externalKey: ExternalKey | undefined;
  #config: Readonly<ServerConfig>;
  /** The file's content as the store last read or wrote it; undefined while there is no file. */
  #diskText: string | undefined;
  #fernet: Fernet;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(init: {
    path: string | undefined;
    env: NodeJS.ProcessEnv;
    logger: Logger;
    externalKey: ExternalKey | undefined;
    config: ServerConfig;
    diskText: string | undefined;
    fernet: Fernet;
  }) {
    this.path = init.path;
    this.stateless = init.path === undefined;
    this.#env = init.env;
    this.#logger = init.logger;
    this.#externalKey = init.externalKey;
    this.#config = deepFreeze(init.config);
    this.#diskText = init.diskText;
    this.#fernet = init.fernet;
  }

  static async open(opts: ConfigStoreOptions): Promise<ConfigStore> {
    const env = opts.env ?? process.env;
    const file = opts.path === undefined ? undefined : await readConfigFile(opts.path);
    const config: ServerConfig = { ...envDefaults(env), ...file?.values };
    const clash = findPeerClash(config.peers);
    if (clash) throw invalid(`${valueSource('peers', file, opts.path)}, key "peers": ${clash}`);
    const externalKey = pickExternalKey(opts.secretKey, env);
    // Before anything is saved: a start with the wrong key must change nothing.
    const fernet = checkedFernet(config, externalKey, file, opts);
    const store = new ConfigStore({ path: opts.path, env, logger: opts.logger, externalKey, config, diskText: file?.text, fernet });
    if (opts.path === undefined) return store;
    await cleanUpAfterCrash(opts.path, opts.logger);
    // Saved at once, as the original does: a new file appears with every default, and keys a
    // newer version added show up in an old file.
    await store.#save(config, file?.text);
    await warnIfReadableByOthers(opts.path, store.#config, opts.logger);
    return store;
  }

  get config(): Readonly<ServerConfig> {
    return this.#config;
  }

  get fernet(): Fernet {
    return this.#fernet;
  }

  /**
   * Applies `mutate` to a copy, validates and saves it, then makes it current. Updates run one
   * at a time in call order. On any failure the current config is untouched.
   */
  update(mutate: (draft: ServerConfig) => void | Promise<void>): Promise<void> {
    return this.#serialise(async () => {
      const draft = structuredClone(this.#config) as ServerConfig;
      await mutate(draft);
      const next = normalise(draft);
      this.#assertKeyKept(next);
      await this.#commit(next);
    });
  }

  /** Resolves once every update asked for so far is saved (or has failed). */
  async idle(): Promise<void> {
    await this.#queue;
  }

  encryptSecret(secret: string): string {
    return this.#fernet.encrypt(secret);
  }

  /** Throws NetunnelError `INVALID_TOKEN` for a token this key did not make. */
  decryptSecret(token: string): string {
    return this.#fernet.decryptString(token);
  }

  /** Defaults and env again; a new secret key unless it comes from the flag or env (spec §3.1). */
  factoryReset(): Promise<void> {
    return this.#serialise(async () => {
      const next = envDefaults(this.#env);
      const fernet = this.#externalKey ? this.#fernet : generateKey(next, this.#logger);
      await this.#commit(next);
      this.#fernet = fernet;
    });
  }

  /** The file's key decrypts the file's secrets; losing it (the next start would make a new one) loses them. */
  #assertKeyKept(next: ServerConfig): void {
    if (this.#externalKey || next.secret_key === this.#config.secret_key) return;
    throw invalid('config update refused: secret_key is in use and cannot be changed or removed (a factory reset makes a new one)');
  }

  #serialise(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #commit(next: ServerConfig): Promise<void> {
    assertValid(next);
    if (this.path !== undefined) await this.#save(next, await this.#readUnchangedFile());
    this.#config = deepFreeze(next);
  }

  /** `onDisk`: the file's current content (undefined: there is none). */
  async #save(config: ServerConfig, onDisk: string | undefined): Promise<void> {
    const path = this.path!;
    const text = `${JSON.stringify(config, null, 4)}\n`;
    if (text === onDisk) return;
    try {
      await writeFileAtomic(path, text, NEW_FILE_MODE);
    } catch (err) {
      throw saveFailed(`cannot save config file ${path}: ${errorMessage(err)}`, err);
    }
    this.#diskText = text;
  }

  /**
   * Hand edits made while we run would be overwritten by the next save, so a file whose
   * content is no longer what we last read or wrote refuses the change (the file wins; a
   * restart loads it). A removed file is written again: there is nothing on disk to lose.
   * An edit landing between this read and the rename can still be lost; the window is a few ms.
   * Returns the file's content, undefined when it is gone.
   */
  async #readUnchangedFile(): Promise<string | undefined> {
    const path = this.path!;
    let onDisk: string | undefined;
    try {
      onDisk = await ifPresent(readFile(path, 'utf8'));
    } catch (err) {
      throw saveFailed(`cannot read config file ${path} to check it before saving: ${errorMessage(err)}`, err);
    }
    if (onDisk === undefined) this.#logger.warn(`Config file ${path} was removed while the server ran; writing it again`);
    if (onDisk === undefined || onDisk === this.#diskText) return onDisk;
    throw new NetunnelError(
      'CONFIG_CHANGED_ON_DISK',
      `config file ${path} was changed on disk since the server read it; this change was not applied, so as not to overwrite those edits. Restart the server to load the file, then make the change again`,
    );
  }
}

/** Best effort: leftovers waste space and may hold secrets, but must not stop the server. */
async function cleanUpAfterCrash(path: string, logger: Logger): Promise<void> {
  try {
    const removed = await removeStaleTempFiles(path);
    if (removed.length) logger.info({ removed }, 'Removed temp files left by an interrupted config save');
  } catch (err) {
    logger.warn({ err }, `Could not remove stale temp files beside ${path}`);
  }
}

function envDefaults(env: NodeJS.ProcessEnv): ServerConfig {
  return { ...defaultConfig(), ...readEnvConfig(env) };
}

// ---- The file ---------------------------------------------------------------------------

interface ConfigFile {
  text: string;
  values: Record<string, unknown>;
}

async function readConfigFile(path: string): Promise<ConfigFile | undefined> {
  let text: string | undefined;
  try {
    text = await ifPresent(readFile(path, 'utf8'));
  } catch (err) {
    throw invalid(`cannot read config file ${path}: ${errorMessage(err)}`, err);
  }
  return text === undefined ? undefined : { text, values: parseConfigText(path, text) };
}


function parseConfigText(path: string, text: string): Record<string, unknown> {
  let values: unknown;
  try {
    // Editors on Windows like to add a byte-order mark.
    values = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw invalid(`config file ${path} is not valid JSON (${oneLine(errorMessage(err))}); fix it or move it away`, err);
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    const got = Array.isArray(values) ? 'an array' : values === null ? 'null' : typeof values;
    throw invalid(`config file ${path} must hold a JSON object, got ${got}`);
  }
  const problem = findProblem(values as Record<string, unknown>, KEY_SCHEMAS);
  if (problem) throw invalid(`config file ${path}, key "${problem.name}": ${problemText(problem)}`);
  return values as Record<string, unknown>;
}

function assertValid(config: ServerConfig): void {
  const problem = findProblem(config, KEY_SCHEMAS, DEFAULT_KEYS);
  if (problem) throw invalid(`config update refused, key "${problem.name}": ${problemText(problem)}`);
}

/** What is kept in memory must be exactly what a reload of the file would give. */
function normalise(draft: ServerConfig): ServerConfig {
  return JSON.parse(JSON.stringify(draft)) as ServerConfig;
}

/**
 * What the schema cannot see in a hand-written peers list: the API finds peers and their
 * tunnels by id and name, and two static tunnels on one local port cannot both listen.
 */
function findPeerClash(peers: readonly PeerConfig[]): string | undefined {
  const first = <T>(values: T[]) => values.find((value, i) => value !== undefined && values.indexOf(value) !== i);
  const id = first(peers.map((peer) => peer.id));
  if (id !== undefined) return `two peers have the id ${id}; ids must be unique`;
  const name = first(peers.map((peer) => peer.name));
  if (name !== undefined) return `two peers are named "${name}"; names must be unique`;
  for (const peer of peers) {
    const tunnelId = first((peer.static_tunnels ?? []).map((tunnel) => tunnel.id));
    if (tunnelId !== undefined) return `peer "${peer.name}" has two static tunnels with the id ${tunnelId}; ids must be unique`;
  }
  // By port alone, as the API sees them (localhost and 127.0.0.1 clash too); 0 or none is picked on start.
  const port = first(peers.flatMap((peer) => (peer.static_tunnels ?? []).map((tunnel) => tunnel.tunnel_local_port || undefined)));
  if (port !== undefined) return `two static tunnels have the local port ${port}; only one could listen on it`;
  return undefined;
}

// ---- The secret key ---------------------------------------------------------------------

function pickExternalKey(flag: string | undefined, env: NodeJS.ProcessEnv): ExternalKey | undefined {
  if (flag?.trim()) return { key: flag, source: '--secret-key' };
  const fromEnv = readEnvSecretKey(env);
  return fromEnv === undefined ? undefined : { key: fromEnv, source: SECRET_KEY_ENV };
}

/** The key in use (flag or env, else the file's, else a new one), once every encrypted value opens with it. */
function checkedFernet(config: ServerConfig, externalKey: ExternalKey | undefined, file: ConfigFile | undefined, opts: ConfigStoreOptions): Fernet {
  const keySource = externalKey?.source ?? (config.secret_key === undefined ? GENERATED_KEY_SOURCE : FILE_KEY_SOURCE);
  const fernet = externalKey ? fernetFor(externalKey) : (fileFernet(config, opts.path) ?? generateKey(config, opts.logger));
  const sealed = sealPlainProxyCredentials(config, () => fernet);
  if (sealed.length > 0) opts.logger.info(`${sealed.join(' and ')} given in plain text: encrypted with the secret key`);
  assertSecretsOpen(config, fernet, keySource, (key) => valueSource(key, file, opts.path));
  return fernet;
}

function fileFernet(config: ServerConfig, path: string | undefined): Fernet | undefined {
  if (config.secret_key === undefined) return undefined;
  return fernetFor({ key: config.secret_key, source: `config file ${path}, key "secret_key"` });
}

function fernetFor({ key, source }: ExternalKey): Fernet {
  try {
    return new Fernet(key);
  } catch (err) {
    const message = errorMessage(err);
    const hint = message.includes('generate-key') ? '' : '; generate one with `netunnel-security generate-key`';
    throw invalid(`${source}: ${message}${hint}`, err);
  }
}

const FILE_KEY_SOURCE = 'the config file\'s "secret_key"';
const GENERATED_KEY_SOURCE = 'a newly generated one, as the config has no "secret_key"';

/**
 * Every encrypted value must open with the key in use. A wrong key (another `-s`) would
 * otherwise surface much later, as a request failing with a token error that blames the caller.
 */
function assertSecretsOpen(config: ServerConfig, fernet: Fernet, keySource: string, sourceOf: (key: string) => string): void {
  for (const { key, setting, token } of encryptedValues(config)) {
    try {
      fernet.decryptString(token);
    } catch (err) {
      throw invalid(
        `${sourceOf(key)}, key "${setting}": the secret key (${keySource}) does not match the one that encrypted this value (${errorMessage(err)}); start the server with that key, or remove the value and set it again`,
        err,
      );
    }
  }
}

/** Where a key's value came from: the file beats the environment (the defaults hold no secrets). */
function valueSource(key: string, file: ConfigFile | undefined, path: string | undefined): string {
  return file !== undefined && key in file.values ? `config file ${path}` : envVarName(key);
}

/**
 * A file we create is 0600, but one copied into place (the README's `cp
 * netunnel.example.conf`) keeps its mode, which we keep too (atomic-file.ts): its secret key,
 * which opens every stored secret, may then be readable by every local user.
 */
async function warnIfReadableByOthers(path: string, config: Readonly<ServerConfig>, logger: Logger): Promise<void> {
  if (config.secret_key === undefined) return;
  const { mode } = await stat(path);
  if ((mode & 0o077) === 0) return;
  logger.warn(`Config file ${path} holds the secret key and can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`);
}

function generateKey(config: ServerConfig, logger: Logger): Fernet {
  logger.info('Generating default secret-key');
  config.secret_key = Fernet.generateKey();
  return new Fernet(config.secret_key);
}

// ---- Helpers ----------------------------------------------------------------------------

function invalid(message: string, cause?: unknown): NetunnelError {
  return new NetunnelError('CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

function saveFailed(message: string, cause: unknown): NetunnelError {
  return new NetunnelError('CONFIG_SAVE_FAILED', message, { cause });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** Readers get the live config; freezing makes a stray write throw instead of silently diverging from the file. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
