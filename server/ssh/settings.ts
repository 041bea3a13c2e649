import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NetunnelError } from '../../common/errors.js';
import type { SshConfig, SshUpstreamConfig } from '../config/defaults.js';
import { DEFAULT_SSH_PORT } from './front-door.js';
import type { SshFrontDoorOptions } from './front-door.js';
import { compileLoginPattern } from './upstream-rules.js';
import type { UpstreamRule } from './upstream-rules.js';

/** The server CLI's --ssh-* flags, as given. */
export interface SshFlags {
  hostname: string;
  'config-path'?: string;
  'ssh-port'?: string;
  'ssh-host'?: string;
  'ssh-host-key'?: string;
  'ssh-authorized-keys'?: string;
}

export type SshSettings = Omit<SshFrontDoorOptions, 'logger' | 'registry'>;

const PATH_FLAGS = ['ssh-host', 'ssh-host-key', 'ssh-authorized-keys'] as const;

/**
 * The SSH front door's settings from the config's `ssh` section and the --ssh-* flags (a flag
 * wins over its config key), or undefined when neither enables it. `port` is the already
 * parsed --ssh-port. Paths in the config are relative to the config file, flags to the
 * current folder. Throws CONFIG_INVALID with a sentence naming the flag or key at fault.
 */
export function sshSettings(flags: SshFlags, port: number | undefined, config: SshConfig | undefined): SshSettings | undefined {
  const section = config?.enabled === false ? undefined : config;
  if (port === undefined && section === undefined) {
    const stray = PATH_FLAGS.find((flag) => flags[flag] !== undefined);
    if (stray) throw invalid(`--${stray} needs --ssh-port (or an "ssh" section in the config file)`);
    return undefined;
  }
  const configPath = flags['config-path'];
  const base = configPath ? dirname(resolve(configPath)) : process.cwd();
  const fromConfig = (path: string | undefined) => (path === undefined ? undefined : resolve(base, path));
  const authorizedKeysPath = flags['ssh-authorized-keys'] ?? fromConfig(section?.authorized_keys);
  if (authorizedKeysPath === undefined) throw invalid('--ssh-port needs --ssh-authorized-keys FILE (or "authorized_keys" in the config\'s "ssh" section)');
  if (!existsSync(authorizedKeysPath)) {
    const source = flags['ssh-authorized-keys'] !== undefined ? '--ssh-authorized-keys' : 'config key ssh.authorized_keys';
    throw invalid(`${source} ${authorizedKeysPath}: no such file`);
  }
  const hostKeyPath = flags['ssh-host-key'] ?? fromConfig(section?.host_key) ?? (configPath ? join(dirname(configPath), 'ssh_host_key') : 'ssh_host_key');
  return {
    host: flags['ssh-host'] ?? section?.host ?? flags.hostname,
    port: port ?? section?.port ?? DEFAULT_SSH_PORT,
    hostKeyPath,
    authorizedKeysPath,
    ...(section?.max_forwards_per_key !== undefined ? { maxForwardsPerKey: section.max_forwards_per_key } : {}),
    ...(section?.max_circuits_per_key !== undefined ? { maxCircuitsPerKey: section.max_circuits_per_key } : {}),
    ...(section?.upstreams ? { upstreams: section.upstreams.map((u, i) => upstreamRule(u, i, (path) => resolve(base, path))) } : {}),
  };
}

/** A config `upstreams` entry as the front door uses it; paths relative to the config file. */
export function upstreamRule(config: SshUpstreamConfig, index: number, path: (relative: string) => string): UpstreamRule {
  const where = `config key ssh.upstreams[${index}]`;
  if ((config.login === undefined) === (config.login_pattern === undefined)) throw invalid(`${where} needs exactly one of "login" and "login_pattern"`);
  return {
    ...(config.login !== undefined ? { login: config.login } : {}),
    ...(config.login_pattern !== undefined ? { loginPattern: compileLoginPattern(config.login_pattern, where) } : {}),
    host: config.host,
    port: config.port ?? 22,
    ...(config.user !== undefined ? { user: config.user } : {}),
    privateKeyPath: path(config.private_key),
    knownHostsPath: path(config.known_hosts),
    trustOnFirstUse: config.trust_on_first_use ?? false,
    agentForwarding: config.agent_forwarding ?? false,
  };
}

function invalid(message: string): NetunnelError {
  return new NetunnelError('CONFIG_INVALID', message);
}
