import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

import { resolveTarget, type AddressRule } from './addresses.js';

/** An attempt's outcome: the receiver's status, or why there is none. */
export interface SendOutcome {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
}

export interface SendOptions {
  timeoutMs: number;
  /** At most this much of the answer is read (the rest is dropped, the connection closed). */
  maxResponseBytes: number;
  rule: AddressRule;
}

/**
 * One POST of a delivery: the name is resolved once, the address checked,
 * and the connection made to that very address (a name that resolves to
 * something else a moment later cannot take the request elsewhere);
 * redirects are not followed; a 2xx within the time limit is success.
 */
export async function postDelivery(url: URL, body: string, headers: Record<string, string>, options: SendOptions): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const target = await resolveTarget(url, options.rule);
  if ('refused' in target) return { ok: false, status: null, durationMs: elapsed(), error: `refused: ${target.refused}` };
  // Every lookup of this request answers the address checked above.
  const pinned: LookupFunction = (_host, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all) (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<SendOutcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...outcome, durationMs: elapsed() });
    };
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), 'User-Agent': 'Octiv-Webhooks/1' },
        lookup: pinned,
        timeout: options.timeoutMs,
        agent: false,
      },
      (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > options.maxResponseBytes) response.destroy();
        });
        const status = response.statusCode ?? 0;
        const done = () => finish({ ok: status >= 200 && status < 300, status, error: status >= 200 && status < 300 ? null : `answered ${status}` });
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      finish({ ok: false, status: null, error: `no answer within ${options.timeoutMs / 1000} s` });
    }, options.timeoutMs);
    timer.unref();
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs / 1000} s`)));
    request.on('error', (error) => finish({ ok: false, status: null, error: error.message.slice(0, 300) }));
    request.on('close', () => clearTimeout(timer));
    request.end(body);
  });
}
