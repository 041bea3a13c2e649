/** OpenSSH's `*` and `?` wildcards (authorized_keys `from=`, known_hosts names), compared case-blind. */
export function globMatches(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(text);
}
