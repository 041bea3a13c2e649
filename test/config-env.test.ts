import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetunnelError } from '../common/errors.js';
import { DEFAULT_KEYS, defaultConfig } from '../server/config/defaults.js';
import { ENV_KEYS, envVarName, readEnvConfig, readEnvSecretKey } from '../server/config/env.js';
import { SAMPLE_VALUES } from './fixtures/config-samples.js';

/** A JSON value of the wrong type for every key. */
const WRONG_TYPES: Record<string, string> = {
  allowed_tunnel_destinations: '["127.0.0.1"]',
  http_proxy: '"http://proxy:3128"',
  http_proxy_test_url: '5',
  peers: '{}',
  allow_unverified_ssl_peers: '"true"',
  revision: '1.5',
  allowed_tunnel_entrances: 'null',
  max_channels: '"1000"',
  max_tunnels_per_channel: 'true',
  channel_connect_timeout: '"30"',
  static_tunnel_health_check_interval: '0',
  allowed_tunnel_names: '["gw1"]',
  ssh: '"on"',
};

function refusal(name: string, expected: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof NetunnelError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.statusCode, 400);
    assert.ok(err.message.startsWith(`${name}: `), err.message);
    assert.match(err.message, expected);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  };
}

test('every key but secret_key has a variable: the defaults, then the optional keys', () => {
  assert.deepEqual(ENV_KEYS, [...DEFAULT_KEYS, 'allowed_tunnel_names', 'ssh']);
});

test('the samples cover every key with a variable, each with a non-default value', () => {
  assert.deepEqual(Object.keys(SAMPLE_VALUES), [...ENV_KEYS]);
  assert.deepEqual(Object.keys(WRONG_TYPES), [...ENV_KEYS]);
  const defaults = defaultConfig();
  for (const key of ENV_KEYS) assert.notDeepEqual(SAMPLE_VALUES[key], defaults[key], key);
});

test('no NETUNNEL_* variables: nothing overridden', () => {
  assert.deepEqual(readEnvConfig({ PATH: '/bin', NETUNNEL_UNRELATED: '{' }), {});
});

test('variable names are NETUNNEL_ + the key upper-cased', () => {
  assert.equal(envVarName('allowed_tunnel_destinations'), 'NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS');
  assert.equal(envVarName('max_channels'), 'NETUNNEL_MAX_CHANNELS');
});

test('each variable overrides its key with its JSON value', () => {
  for (const key of ENV_KEYS) {
    const env = { [envVarName(key)]: JSON.stringify(SAMPLE_VALUES[key]) };
    assert.deepEqual(readEnvConfig(env), { [key]: SAMPLE_VALUES[key] }, key);
  }
});

test('all variables together', () => {
  const env = Object.fromEntries(ENV_KEYS.map((key) => [envVarName(key), JSON.stringify(SAMPLE_VALUES[key])]));
  assert.deepEqual(readEnvConfig(env), SAMPLE_VALUES);
});

test('an empty variable counts as unset', () => {
  assert.deepEqual(readEnvConfig({ NETUNNEL_PEERS: '', NETUNNEL_REVISION: '  ' }), {});
});

test('invalid JSON is refused naming the variable', () => {
  for (const key of ENV_KEYS) {
    const name = envVarName(key);
    assert.throws(() => readEnvConfig({ [name]: '{"oops' }), refusal(name, /not valid JSON|expected/), key);
  }
});

test('a number that is not JSON reads as the wrong type', () => {
  assert.throws(
    () => readEnvConfig({ NETUNNEL_MAX_CHANNELS: 'abc' }),
    refusal('NETUNNEL_MAX_CHANNELS', /^NETUNNEL_MAX_CHANNELS: expected an integer, got "abc"$/),
  );
});

test('an unquoted string gets a hint about the quotes', () => {
  assert.throws(
    () => readEnvConfig({ NETUNNEL_HTTP_PROXY_TEST_URL: 'https://example.com' }),
    refusal('NETUNNEL_HTTP_PROXY_TEST_URL', /not valid JSON .*double quotes/),
  );
});

test('a JSON value of the wrong type is refused naming the variable and the expected type', () => {
  for (const key of ENV_KEYS) {
    const name = envVarName(key);
    assert.throws(() => readEnvConfig({ [name]: WRONG_TYPES[key] }), refusal(name, /expected /), key);
  }
});

test('the message says what was expected and what came', () => {
  assert.throws(
    () => readEnvConfig({ NETUNNEL_REVISION: '"5"' }),
    refusal('NETUNNEL_REVISION', /^NETUNNEL_REVISION: expected an integer, got "5"$/),
  );
  assert.throws(
    () => readEnvConfig({ NETUNNEL_MAX_CHANNELS: '0' }),
    refusal('NETUNNEL_MAX_CHANNELS', /expected a number >= 1, got 0/),
  );
});

test('a problem deep inside a value is located', () => {
  assert.throws(
    () => readEnvConfig({ NETUNNEL_PEERS: '[{"name": 5, "target_netunnel_url": "http://x"}]' }),
    refusal('NETUNNEL_PEERS', /at \/0\/name: expected a string, got 5/),
  );
  assert.throws(
    () => readEnvConfig({ NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS: '{"127.0.0.1": 22}' }),
    refusal('NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS', /at \/127.0.0.1: expected a string, got 22/),
  );
  // The original reads each port with int(): a typo or an impossible port would allow nothing, silently.
  for (const ports of ['abc', '22,99999', '0', '22;80', '22,']) {
    assert.throws(
      () => readEnvConfig({ NETUNNEL_ALLOWED_TUNNEL_ENTRANCES: JSON.stringify({ '127.0.0.1': ports }) }),
      refusal('NETUNNEL_ALLOWED_TUNNEL_ENTRANCES', /at \/127.0.0.1: expected ports: "\*", a comma-separated list of ports from 1 to 65535, or "" for none/),
      ports,
    );
  }
  for (const ports of ['*', '22', '22, 80,65535', '1,*', '']) {
    assert.deepEqual(readEnvConfig({ NETUNNEL_ALLOWED_TUNNEL_NAMES: JSON.stringify({ gw: ports }) }).allowed_tunnel_names, { gw: ports });
  }
  assert.throws(
    () => readEnvConfig({ NETUNNEL_SSH: '{"port": 0}' }),
    refusal('NETUNNEL_SSH', /missing required property "authorized_keys"/),
  );
  assert.throws(
    () => readEnvConfig({ NETUNNEL_SSH: '{"prot": 0, "authorized_keys": "k"}' }),
    refusal('NETUNNEL_SSH', /unknown property "prot"/),
  );
});

test('values are never coerced', () => {
  assert.throws(() => readEnvConfig({ NETUNNEL_ALLOW_UNVERIFIED_SSL_PEERS: '1' }), refusal('NETUNNEL_ALLOW_UNVERIFIED_SSL_PEERS', /boolean/));
  assert.throws(() => readEnvConfig({ NETUNNEL_HTTP_PROXY_TEST_URL: '5' }), refusal('NETUNNEL_HTTP_PROXY_TEST_URL', /string/));
});

test('null is a valid http_proxy', () => {
  assert.deepEqual(readEnvConfig({ NETUNNEL_HTTP_PROXY: 'null' }), { http_proxy: null });
});

test('NETUNNEL_SECRET_KEY is a raw string, not JSON', () => {
  const key = '3vpPjEJ6pEckqFxQ5Vbtwa9pHw9c6gQUxS8NueEZQII=';
  assert.equal(readEnvSecretKey({ NETUNNEL_SECRET_KEY: key }), key);
  assert.equal(readEnvSecretKey({ NETUNNEL_SECRET_KEY: '' }), undefined);
  assert.equal(readEnvSecretKey({}), undefined);
  assert.deepEqual(readEnvConfig({ NETUNNEL_SECRET_KEY: key }), {});
});
