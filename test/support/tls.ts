import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates for the security tests, generated per run with openssl (keys,
 * certificates, the broker's PKCS12 keystore) and keytool (the broker's
 * truststore): a CA that signs the broker and a client certificate, and a
 * second, unrelated CA that a client can wrongly trust.
 */
export interface TestPki {
  readonly dir: string;
  /** PEM of the CA that signed the broker's and the client's certificates. */
  readonly caFile: string;
  /** PEM of a CA that signed nothing the broker presents. */
  readonly otherCaFile: string;
  /** PKCS12 keystore holding the broker's key and certificate chain (SAN 127.0.0.1, localhost). */
  readonly brokerKeystore: string;
  /** PKCS12 truststore holding the CA, for brokers that ask clients for a certificate. */
  readonly brokerTruststore: string;
  /** Password of both stores. */
  readonly storePassword: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function newCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', `${name}.key`, '-out', `${name}.crt`,
  ]);
}

function signedBy(dir: string, ca: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, [
    'x509', '-req', '-sha256', '-days', '2', '-in', `${name}.csr`,
    '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`,
  ]);
}

export function generateTestPki(storePassword = 'test-store-pass'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'txstream-pki-'));
  newCa(dir, 'test-ca');
  newCa(dir, 'other-ca');
  signedBy(
    dir,
    'test-ca',
    'broker',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  signedBy(dir, 'test-ca', 'client', 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(dir, [
    'pkcs12', '-export', '-name', 'broker',
    '-in', 'broker.crt', '-inkey', 'broker.key', '-certfile', 'test-ca.crt',
    '-out', 'broker.p12', '-passout', `pass:${storePassword}`,
  ]);
  execFileSync(
    'keytool',
    ['-importcert', '-noprompt', '-alias', 'test-ca', '-file', 'test-ca.crt',
      '-keystore', 'truststore.p12', '-storetype', 'PKCS12', '-storepass', storePassword],
    { cwd: dir, stdio: 'pipe' },
  );
  return {
    dir,
    caFile: join(dir, 'test-ca.crt'),
    otherCaFile: join(dir, 'other-ca.crt'),
    brokerKeystore: join(dir, 'broker.p12'),
    brokerTruststore: join(dir, 'truststore.p12'),
    storePassword,
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}
