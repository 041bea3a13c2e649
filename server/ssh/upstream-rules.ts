import { NetunnelError } from '../../common/errors.js';

/**
 * One `ssh.upstreams` rule, ready to use: which login names it takes and the upstream it
 * maps them to. `host` and `user` may hold `$<name>` references to the pattern's named
 * captures (String.prototype.replace's syntax).
 */
export interface UpstreamRule {
  /** Matches this login name exactly... */
  login?: string;
  /** ...or this pattern (anchor it yourself). */
  loginPattern?: RegExp;
  host: string;
  port: number;
  /** Default: the pattern's `user` capture if it has one, else the login name. */
  user?: string;
  privateKeyPath: string;
  knownHostsPath: string;
  trustOnFirstUse: boolean;
  /** Lets the client's ssh-agent (ssh -A) be used upstream. */
  agentForwarding: boolean;
}

/** Where a login goes, with every reference filled in. */
export interface UpstreamTarget {
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  knownHostsPath: string;
  trustOnFirstUse: boolean;
  agentForwarding: boolean;
}

/** The target of the first rule that takes `login`; NOT_FOUND if none does or a reference is empty. */
export function matchUpstream(rules: readonly UpstreamRule[], login: string): UpstreamTarget {
  for (const rule of rules) {
    const groups = captures(rule, login);
    if (!groups) continue;
    const host = expand(rule.host, groups, login, 'host');
    const user = rule.user === undefined ? (groups.user ?? login) : expand(rule.user, groups, login, 'user');
    const { privateKeyPath, knownHostsPath, trustOnFirstUse, agentForwarding } = rule;
    return { host, port: rule.port, user, privateKeyPath, knownHostsPath, trustOnFirstUse, agentForwarding };
  }
  throw new NetunnelError('NOT_FOUND', `no upstream rule matches the user name "${login}"`);
}

/** The named captures of a match (none for an exact rule), or undefined if the rule does not take `login`. */
function captures(rule: UpstreamRule, login: string): Record<string, string | undefined> | undefined {
  if (rule.login !== undefined) return rule.login === login ? {} : undefined;
  const match = rule.loginPattern?.exec(login);
  return match ? { ...match.groups } : undefined;
}

function expand(template: string, groups: Record<string, string | undefined>, login: string, what: string): string {
  const value = template.replace(/\$<([A-Za-z_][A-Za-z0-9_]*)>/g, (_all, name: string) => groups[name] ?? '');
  if (value === '') throw new NetunnelError('NOT_FOUND', `the upstream rule for "${login}" gives an empty ${what}`);
  return value;
}

/** A `login_pattern` from the config, or CONFIG_INVALID naming it. */
export function compileLoginPattern(pattern: string, where: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new NetunnelError('CONFIG_INVALID', `${where}: login_pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(err as Error).message})`);
  }
}
