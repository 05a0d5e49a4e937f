import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a webhook receiver got. */
export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A webhook receiver on loopback: it keeps every request and answers with
 * what `answer` says for it and for which attempt of its event it is (200
 * by default), after `delayMs`.
 */
export async function startReceiver(options: { answer?: (request: Received, attemptOfEvent: number) => number; delayMs?: number } = {}) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(entry);
      // Which attempt of its event this is (other events to the same receiver do not count).
      const attemptOfEvent = received.filter((other) => other.headers['webhook-id'] === entry.headers['webhook-id']).length;
      const status = options.answer?.(entry, attemptOfEvent) ?? 200;
      setTimeout(() => {
        response.statusCode = status;
        response.end('ok');
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    /** The requests of one event (by its webhook-id). */
    of: (eventId: string) => received.filter((entry) => entry.headers['webhook-id'] === eventId),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
