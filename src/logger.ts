import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'password',
  'token',
  'key',
  'apiKey',
  'secret',
  'accessToken',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'code_verifier',
  'client_secret',
  'idempotency-key',
];
/** Where a secret could sit in a log object, one level down. */
const CONTAINERS = ['headers', 'body', 'form', 'input', 'params', 'query', 'credentials', 'req.headers', 'req.body', 'res.headers', 'request.headers'];

/**
 * Paths pino censors in every log object. Handlers never log bodies or query
 * strings, so this is the second line of defence: a header, a password or a
 * token that slips into a log object still comes out "[redacted]". The paths
 * are explicit: pino compiles them into one fast function, where `*.x`
 * wildcards would cost several times the rest of a log line.
 */
export const REDACTED_PATHS = [
  ...SECRET_FIELDS.map((field) => JSON.stringify([field]).slice(1, -1)).map((field) => `[${field}]`),
  ...CONTAINERS.flatMap((container) => SECRET_FIELDS.map((field) => `${container}[${JSON.stringify(field)}]`)),
  'res.headers["set-cookie"]',
];

/** Error serializer that leaves out SQL bindings a driver may attach (row values are not log material). */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (serialized && typeof serialized === 'object') {
    for (const field of ['params', 'parameters', 'bindings', 'queryOptions']) delete serialized[field];
  }
  return serialized;
}

/**
 * Standard output, written asynchronously: lines written while a write is
 * pending go out together, instead of one system call per line. `flush()`
 * runs at shutdown. (Not held back for a fuller batch: the lines just
 * before a crash are the ones an operator needs.)
 */
export function stdoutDestination() {
  return pino.destination({ dest: 1, sync: false });
}

/**
 * pino's ISO timestamp (`,"time":"2026-12-06T08:00:00.000Z"`), built once per
 * millisecond: under load several lines share a millisecond, and building
 * the text was a visible share of a request's time.
 */
let lastMillisecond = -1;
let lastTimestamp = '';
function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTimestamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTimestamp;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { err: serializeError },
      base: { service: 'octiv-system-integrations' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: isoTimeOncePerMillisecond,
    },
    destination,
  );
}
