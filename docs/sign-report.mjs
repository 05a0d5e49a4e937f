#!/usr/bin/env node
// Tries the leaked-key endpoint locally, as GitHub's secret-scanning partner
// program would call it: a P-256 key pair stands in for GitHub's, a report
// of findings is signed over its raw bytes, and POSTed.
//
//   node docs/sign-report.mjs keys            # makes ./scanning-key.pem, prints SECRET_SCANNING_PUBLIC_KEYS
//   node docs/sign-report.mjs report oct_pat_... [more tokens]   # signs and sends a report
//
// BASE (default http://localhost:3000) names the server. Start it with the
// printed SECRET_SCANNING_PUBLIC_KEYS set. The private key stays in
// ./scanning-key.pem: it is for trying things out, never for production.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const KEY_FILE = 'scanning-key.pem';
const KEY_ID = 'local-test-key';
const [command, ...tokens] = process.argv.slice(2);

if (command === 'keys') {
  if (!existsSync(KEY_FILE)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(KEY_FILE, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const key = createPublicKey(createPrivateKey(readFileSync(KEY_FILE))).export({ type: 'spki', format: 'pem' });
  const document = { public_keys: [{ key_identifier: KEY_ID, key, is_current: true }] };
  console.log(`export SECRET_SCANNING_PUBLIC_KEYS='${JSON.stringify(document)}'`);
} else if (command === 'report' && tokens.length > 0) {
  const body = JSON.stringify(tokens.map((token) => ({ token, type: 'octiv_api_key', url: 'https://github.com/example/repo/blob/main/.env', source: 'content' })));
  const signature = sign('sha256', Buffer.from(body), { key: createPrivateKey(readFileSync(KEY_FILE)), dsaEncoding: 'der' }).toString('base64');
  const response = await fetch(`${process.env.BASE ?? 'http://localhost:3000'}/api/v1/secret-scanning/reports`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Github-Public-Key-Identifier': KEY_ID, 'Github-Public-Key-Signature': signature },
    body,
  });
  console.log(response.status, await response.text());
} else {
  console.error('usage: node docs/sign-report.mjs keys | report <token> [token ...]');
  process.exit(2);
}
