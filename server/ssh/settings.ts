import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NetunnelError } from '../../common/errors.js';
import type { SshConfig } from '../config/defaults.js';
import { DEFAULT_SSH_PORT } from './front-door.js';
import type { SshFrontDoorOptions } from './front-door.js';

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
  };
}

function invalid(message: string): NetunnelError {
  return new NetunnelError('CONFIG_INVALID', message);
}
