import { AsyncLocalStorage } from 'node:async_hooks';

import type { Knex } from 'knex';

interface Current {
  trx: Knex.Transaction;
  /** What to run once the transaction has committed. */
  afterCommit: (() => void)[];
}

const currentTransaction = new AsyncLocalStorage<Current>();

/**
 * Runs `work` in one transaction. Code called from inside it (stores, and the
 * oidc-provider adapter, which cannot take a transaction argument) joins the
 * same transaction through `queryable(db)`, so minting a key and recording it
 * commit or roll back together.
 */
export async function inTransaction<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const outer = currentTransaction.getStore();
  if (outer) return work(outer.trx);
  const afterCommit: (() => void)[] = [];
  const result = await db.transaction((trx) => currentTransaction.run({ trx, afterCommit }, () => work(trx)));
  for (const run of afterCommit) run();
  return result;
}

/** The transaction in progress for this async context, or the database itself. */
export function queryable(db: Knex): Knex {
  return currentTransaction.getStore()?.trx ?? db;
}

/**
 * Runs `notify` once what was written is committed: at the end of the
 * transaction in progress (never, if it rolls back), or now outside one.
 * For what must not count a change that did not happen (metrics).
 */
export function afterCommit(notify: () => void): void {
  const current = currentTransaction.getStore();
  if (current) current.afterCommit.push(notify);
  else notify();
}

/** True inside `inTransaction` (the fast path refuses to run there). */
export function inOpenTransaction(): boolean {
  return currentTransaction.getStore() !== undefined;
}

/**
 * The refusal of work that runs on a connection of its own (the fast path,
 * and what the batcher runs later in the turn) when asked inside
 * `inTransaction`: it would not see the transaction's writes, and on the
 * embedded database, whose one connection the transaction holds, it would
 * wait for ever. Undefined outside a transaction.
 */
export function refusalInTransaction(what: string): Error | undefined {
  return inOpenTransaction() ? new Error(`${what} runs on its own connection: it must not be sent inside inTransaction`) : undefined;
}
