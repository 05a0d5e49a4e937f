const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  // A standby not yet promoted, reached through a pooler or an address repointed before the promotion finished.
  '25006', // read_only_sql_transaction
]);

/**
 * A named statement the connection should hold and does not (26000), or
 * holds already (42P05): the connection under the client changed, as behind
 * a transaction-pooling PgBouncer with prepared statements left on. Nothing
 * ran (both are refused before the statement executes), so it is a 503 the
 * client may retry, and the log says what to change.
 */
export class PreparedStatementsLostError extends Error {
  override name = 'PreparedStatementsLostError';
  readonly code: string;
  constructor(statement: string, cause: Error & { code?: string }) {
    super(
      `statement ${statement}: ${cause.message}. The connection changed under a prepared statement, as behind a pooler in transaction mode: set DATABASE_PREPARED_STATEMENTS=off`,
      { cause },
    );
    this.code = cause.code ?? '';
  }
}

const PREPARED_STATEMENT_CODES = new Set(['26000', '42P05']);

/** True for the errors of PreparedStatementsLostError. */
export function isPreparedStatementLost(error: unknown): error is Error & { code: string } {
  return error instanceof Error && PREPARED_STATEMENT_CODES.has((error as { code?: string }).code ?? '');
}

/** Work that waited too long for the database (a write that could not start in time): a 503 like any other. */
export class DatabaseBusyError extends Error {
  override name = 'DatabaseBusyError';
}

/**
 * True when an error means "the database cannot be reached right now" rather
 * than "this query is wrong": the client gets 503 and may retry.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth += 1) {
    const candidate = current as { name?: string; code?: string; message?: string; cause?: unknown };
    // No free connection in time: knex's own pool (the embedded database), or pg's ("timeout exceeded when trying to connect").
    if (candidate.name === 'KnexTimeoutError' || current instanceof DatabaseBusyError || current instanceof PreparedStatementsLostError) return true;
    if (candidate.code && (CONNECTION_ERROR_CODES.has(candidate.code) || candidate.code.startsWith('08'))) return true;
    if (typeof candidate.message === 'string' && /Connection terminated|connection (?:is )?closed|Client has encountered a connection error|timeout exceeded when trying to connect|Cannot use a pool after calling end/i.test(candidate.message)) {
      return true;
    }
    current = candidate.cause;
  }
  return false;
}
