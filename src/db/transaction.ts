import { AsyncLocalStorage } from 'node:async_hooks';

import type { Knex } from 'knex';

const currentTransaction = new AsyncLocalStorage<Knex.Transaction>();

/**
 * Runs `work` in one transaction. Code called from inside it (stores, and the
 * oidc-provider adapter, which cannot take a transaction argument) joins the
 * same transaction through `queryable(db)`, so minting a key and recording it
 * commit or roll back together.
 */
export async function inTransaction<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const outer = currentTransaction.getStore();
  if (outer) return work(outer);
  return db.transaction((trx) => currentTransaction.run(trx, () => work(trx)));
}

/** The transaction in progress for this async context, or the database itself. */
export function queryable(db: Knex): Knex {
  return currentTransaction.getStore() ?? db;
}
