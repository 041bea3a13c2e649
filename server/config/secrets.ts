/**
 * The config values the server keeps Fernet-encrypted with its secret key (wire spec §3.4):
 * the HTTP proxy's credentials and each peer's sealed auth data. Listed in one place so a
 * start with the wrong key is caught before anything needs them.
 */
import { isFernetToken } from '../../common/fernet.js';
import type { Fernet } from '../../common/fernet.js';
import type { ServerConfig } from './defaults.js';

export interface EncryptedValue {
  /** The top-level config key that holds it, to tell where it came from (file or env). */
  key: string;
  /** Where it is inside the config, for messages, e.g. `http_proxy.username`. */
  setting: string;
  token: string;
}

export function encryptedValues(config: Readonly<ServerConfig>): EncryptedValue[] {
  return [...proxyCredentials(config), ...peerAuthData(config)];
}

/**
 * Encrypts the proxy credentials a hand-written file, `NETUNNEL_HTTP_PROXY` or `config create`
 * gives in plain text (as plain peer auth data is sealed on start); returns what it sealed.
 * `fernet` is asked for only when there is something to seal.
 */
export function sealPlainProxyCredentials(config: ServerConfig, fernet: () => Fernet): string[] {
  const plain = proxySecretFields(config).filter((field) => !isFernetToken(config.http_proxy![field]!));
  for (const field of plain) config.http_proxy![field] = fernet().encrypt(config.http_proxy![field]!);
  return plain.map((field) => `http_proxy.${field}`);
}

function proxyCredentials(config: Readonly<ServerConfig>): EncryptedValue[] {
  return proxySecretFields(config).map((field) => ({ key: 'http_proxy', setting: `http_proxy.${field}`, token: config.http_proxy![field]! }));
}

/** The proxy's credential fields that hold something (the original writes empty or null for none). */
function proxySecretFields(config: Readonly<ServerConfig>): ('username' | 'password')[] {
  const proxy = config.http_proxy;
  return (['username', 'password'] as const).filter((field) => typeof proxy?.[field] === 'string' && proxy[field] !== '');
}

/** A string is a sealed token; an object is a hand-written file's plain options, sealed on start. */
function peerAuthData(config: Readonly<ServerConfig>): EncryptedValue[] {
  return config.peers.flatMap((peer, index) =>
    typeof peer.auth_data === 'string'
      ? [{ key: 'peers', setting: `peers[${index}].auth_data (peer "${peer.name}")`, token: peer.auth_data }]
      : [],
  );
}
