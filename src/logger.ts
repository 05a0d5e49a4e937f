import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear in a log object. Handlers never log
 * bodies or query strings, so this is the second line of defence: a header, a
 * password or a token that slips into a log object still comes out "[redacted]".
 */
export const REDACTED_PATHS = [
  'authorization',
  'cookie',
  'password',
  'token',
  'key',
  'secret',
  'accessToken',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'code_verifier',
  'client_secret',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.key',
  '*.secret',
  '*.accessToken',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

/** Error serializer that leaves out SQL bindings a driver may attach (row values are not log material). */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (serialized && typeof serialized === 'object') {
    for (const field of ['params', 'parameters', 'bindings', 'queryOptions']) delete serialized[field];
  }
  return serialized;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { err: serializeError },
      base: { service: 'octiv-system-integrations' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
