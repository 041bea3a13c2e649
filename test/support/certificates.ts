import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** PEM files. */
  caCert: string;
  /** Server certificate signed by the CA, for 127.0.0.1 and localhost. */
  serverCert: string;
  serverKey: string;
  /** Self-signed server certificate, for 127.0.0.1 and localhost. */
  selfSignedCert: string;
  selfSignedKey: string;
  caPem: Buffer;
}

const SUBJECT_ALT_NAME = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

/** Makes a CA, a server certificate it signs, and a self-signed one, with `openssl`, in `dir`. */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir, timeout: 30_000 });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl('req', '-x509', ...newKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=netunnel test CA');
  await openssl('req', ...newKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await run('sh', ['-c', `printf '%s\\n' '${SUBJECT_ALT_NAME}' > san.ext`], { cwd: dir });
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
  await openssl('req', '-x509', ...newKey, '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', SUBJECT_ALT_NAME);
  return {
    caCert: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    selfSignedCert: file('self.crt'),
    selfSignedKey: file('self.key'),
    caPem: await readFile(file('ca.crt')),
  };
}
