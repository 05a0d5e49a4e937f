import test from 'ava';

import { isDatabaseUnavailable } from '../src/db/errors.js';
import { toAppError } from '../src/http/error-handler.js';

// What a Postgres failover behind PgBouncer throws at the server (npm run drill:failover), each as
// pg raises it: the client is to get 503 with Retry-After and retry, never a 500.
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });
const FAILOVER = {
  'PgBouncer, a server connection dead mid-transaction': pgError('08P01', 'server conn crashed?'),
  'PgBouncer, logins to the server failing': pgError('08P01', 'server login has been failing, try again later (server_login_retry)'),
  'PgBouncer, no server connection in time': pgError('08P01', 'query_wait_timeout'),
  'PgBouncer, the server unreachable': pgError('08P01', 'pgbouncer cannot connect to server'),
  'Postgres, stopped with -m immediate': pgError('57P01', 'terminating connection due to immediate shutdown command'),
  'Postgres, a crashed server': pgError('57P02', 'terminating connection because of crash of another server process'),
  'Postgres, starting or shutting down': pgError('57P03', 'the database system is shutting down'),
  'a standby not yet promoted': pgError('25006', 'cannot execute INSERT in a read-only transaction'),
  'pg, the connection gone': new Error('Connection terminated unexpectedly'),
  'the network, refused': Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6432'), { code: 'ECONNREFUSED' }),
};

for (const [what, error] of Object.entries(FAILOVER)) {
  test(`a failover's error is the database unavailable, answered 503 with Retry-After: ${what}`, (t) => {
    t.true(isDatabaseUnavailable(error));
    t.true(isDatabaseUnavailable(new Error('a store failed', { cause: error })), 'also as the cause of another error');
    const answer = toAppError(error);
    t.is(answer.status, 503);
    t.is(answer.headers['Retry-After'], '5');
  });
}

test('a statement that is wrong stays a 500: only unavailability is a 503', (t) => {
  for (const error of [pgError('42P05', 'prepared statement "leads_insert_live" already exists'), pgError('42601', 'syntax error at or near "selec"'), new Error('a bug')]) {
    t.false(isDatabaseUnavailable(error), error.message);
    t.is(toAppError(error).status, 500, error.message);
  }
});
