/**
 * The config values the server keeps Fernet-encrypted with its secret key (wire spec §3.4):
 * the HTTP proxy's credentials and each peer's sealed auth data. Listed in one place so a
 * start with the wrong key is caught before anything needs them.
 */
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

function proxyCredentials(config: Readonly<ServerConfig>): EncryptedValue[] {
  const proxy = config.http_proxy;
  // Empty or null: no credentials (the original writes either).
  return (['username', 'password'] as const)
    .filter((field) => typeof proxy?.[field] === 'string' && proxy[field] !== '')
    .map((field) => ({ key: 'http_proxy', setting: `http_proxy.${field}`, token: proxy![field]! }));
}

/** A string is a sealed token; an object is a hand-written file's plain options, sealed on start. */
function peerAuthData(config: Readonly<ServerConfig>): EncryptedValue[] {
  return config.peers.flatMap((peer, index) =>
    typeof peer.auth_data === 'string'
      ? [{ key: 'peers', setting: `peers[${index}].auth_data (peer "${peer.name}")`, token: peer.auth_data }]
      : [],
  );
}
