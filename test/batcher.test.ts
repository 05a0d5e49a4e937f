import test from 'ava';

import { DatabaseBusyError } from '../src/db/errors.js';
import { createBatcher } from '../src/db/batcher.js';

// The write batcher is a scheduler: these tests drive it with plain functions
// standing in for the statements (the statements themselves are tested
// against the database in leads.test.ts and verifier.test.ts).

interface Held {
  release(): void;
  done: Promise<void>;
}

function hold(): Held {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return { release, done };
}

/** A batcher whose writes are recorded; a write waits for `gate` when one is set. */
function recorder(options: { concurrency?: number; maxBatch?: number; waitLimitMs?: number; runLimitMs?: number; leaveOut?: (item: number) => boolean; failTogether?: boolean } = {}) {
  const calls: { kind: 'alone' | 'together'; group: string; items: number[] }[] = [];
  let gate: Held | undefined;
  const batcher = createBatcher<number, string>({
    concurrency: options.concurrency ?? 1,
    maxBatch: options.maxBatch ?? 100,
    waitLimitMs: options.waitLimitMs ?? 10_000,
    ...(options.runLimitMs === undefined ? {} : { runLimitMs: options.runLimitMs }),
    async runTogether(group, items) {
      calls.push({ kind: 'together', group, items });
      await gate?.done;
      if (options.failTogether) throw new Error('statement failed');
      return new Map(items.filter((item) => !options.leaveOut?.(item)).map((item) => [item, `together:${item}`]));
    },
    async runAlone(group, item) {
      calls.push({ kind: 'alone', group, items: [item] });
      await gate?.done;
      return `alone:${item}`;
    },
  });
  return {
    batcher,
    calls,
    holdWrites() {
      gate = hold();
      return gate;
    },
    openWrites() {
      gate?.release();
      gate = undefined;
    },
  };
}

/** Lets queued callbacks run (the batcher starts writes synchronously, settles on promises). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a write that arrives alone is written at once, by itself', async (t) => {
  const { batcher, calls } = recorder();
  t.is(await batcher.run('g', 1), 'alone:1');
  t.deepEqual(calls, [{ kind: 'alone', group: 'g', items: [1] }]);
  t.is(batcher.waiting(), 0);
});

test('writes that arrive while one is running wait, then go together in one write', async (t) => {
  const run = recorder();
  const gate = run.holdWrites();
  const first = run.batcher.run('g', 1);
  const rest = [2, 3, 4, 5].map((item) => run.batcher.run('g', item));
  await settle();
  t.is(run.batcher.waiting(), 4, 'four wait while the first is written');
  run.openWrites();
  gate.release();
  t.is(await first, 'alone:1');
  t.deepEqual(await Promise.all(rest), ['together:2', 'together:3', 'together:4', 'together:5']);
  t.deepEqual(run.calls, [
    { kind: 'alone', group: 'g', items: [1] },
    { kind: 'together', group: 'g', items: [2, 3, 4, 5] },
  ]);
});

test('what a write together leaves out is written alone, one after another', async (t) => {
  const run = recorder({ leaveOut: (item) => item % 2 === 0 });
  const gate = run.holdWrites();
  const first = run.batcher.run('g', 1);
  const rest = [2, 3, 4, 5].map((item) => run.batcher.run('g', item));
  await settle();
  run.openWrites();
  gate.release();
  await first;
  t.deepEqual(await Promise.all(rest), ['alone:2', 'together:3', 'alone:4', 'together:5']);
  t.deepEqual(
    run.calls.map((call) => `${call.kind}:${call.items.join(',')}`),
    ['alone:1', 'together:2,3,4,5', 'alone:2', 'alone:4'],
  );
});

test('at most `concurrency` writes at once, at most `maxBatch` items in one', async (t) => {
  const run = recorder({ concurrency: 2, maxBatch: 3 });
  const gate = run.holdWrites();
  const written = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((item) => run.batcher.run('g', item));
  await settle();
  t.deepEqual(run.calls.map((call) => call.items), [[1], [2]], 'two writes start; the others wait');
  t.is(run.batcher.waiting(), 8);
  run.openWrites();
  gate.release();
  await Promise.all(written);
  t.deepEqual(run.calls.map((call) => call.items), [[1], [2], [3, 4, 5], [6, 7, 8], [9, 10]]);
});

test('queues are kept per group value: the same string shares a queue, another does not', async (t) => {
  const run = recorder();
  const gate = run.holdWrites();
  const held = run.batcher.run('a', 1);
  const others = [run.batcher.run('a', 2), run.batcher.run(['a'].join(''), 3), run.batcher.run('b', 4), run.batcher.run('b', 5)];
  await settle();
  run.openWrites();
  gate.release();
  await Promise.all([held, ...others]);
  t.deepEqual(
    run.calls.map((call) => `${call.group}:${call.items.join(',')}`),
    ['a:1', 'a:2,3', 'b:4,5'],
  );
});

test('an item that cannot start within the wait limit is answered DatabaseBusyError and never written', async (t) => {
  const run = recorder({ waitLimitMs: 100 });
  // The batcher's sweeper does not keep a process alive (a server's sockets do): this test's timer does.
  const alive = setInterval(() => undefined, 50);
  t.teardown(() => clearInterval(alive));
  const gate = run.holdWrites();
  const stuck = run.batcher.run('g', 1);
  const late = await Promise.allSettled([run.batcher.run('g', 2), run.batcher.run('g', 3)]);
  for (const outcome of late) {
    t.is(outcome.status, 'rejected');
    t.true((outcome as PromiseRejectedResult).reason instanceof DatabaseBusyError);
  }
  t.is(run.batcher.waiting(), 0, 'they left the queue');
  run.openWrites();
  gate.release();
  t.is(await stuck, 'alone:1');
  await settle();
  t.deepEqual(run.calls.map((call) => call.items), [[1]], 'the late ones were never written');
});

test('a write together that fails rejects each of its items, and the next writes go on', async (t) => {
  const run = recorder({ failTogether: true });
  const gate = run.holdWrites();
  const first = run.batcher.run('g', 1);
  const batch = [run.batcher.run('g', 2), run.batcher.run('g', 3)];
  await settle();
  run.openWrites();
  gate.release();
  await first;
  const outcomes = await Promise.allSettled(batch);
  t.deepEqual(outcomes.map((outcome) => outcome.status), ['rejected', 'rejected']);
  t.is(await run.batcher.run('g', 4), 'alone:4', 'the batcher keeps working');
});

test('gather: writes that never yield (a database on this thread) still go together when they arrive in one turn of the event loop', async (t) => {
  const calls: { kind: 'alone' | 'together'; items: number[] }[] = [];
  const options = (gather: boolean) => ({
    concurrency: 1,
    maxBatch: 100,
    waitLimitMs: 10_000,
    gather,
    // Settles in microtasks only, as the embedded database's statements do.
    runTogether: async (_group: string, items: number[]) => {
      calls.push({ kind: 'together', items });
      return new Map(items.map((item) => [item, `together:${item}`]));
    },
    runAlone: async (_group: string, item: number) => {
      calls.push({ kind: 'alone', items: [item] });
      return `alone:${item}`;
    },
  });
  // Each arrival in its own I/O callback (as requests are), all in one turn.
  const arrive = (batcher: ReturnType<typeof createBatcher<number, string>>) =>
    Promise.all([1, 2, 3, 4].map((item) => new Promise<string>((resolve) => setImmediate(() => resolve(batcher.run('g', item))))));

  t.deepEqual(await arrive(createBatcher<number, string>(options(true))), ['together:1', 'together:2', 'together:3', 'together:4']);
  t.deepEqual(calls, [{ kind: 'together', items: [1, 2, 3, 4] }]);
  calls.length = 0;
  // Without it, each write starts and ends before the next arrives: all alone.
  t.deepEqual(await arrive(createBatcher<number, string>(options(false))), ['alone:1', 'alone:2', 'alone:3', 'alone:4']);
  t.is(calls.filter((call) => call.kind === 'together').length, 0);
});

test('groups take free slots in turn: one busy group cannot starve another', async (t) => {
  const run = recorder({ maxBatch: 2 });
  run.holdWrites();
  const all = [1, 2, 3, 4, 5, 6, 7].map((item) => run.batcher.run('a', item));
  all.push(run.batcher.run('b', 8));
  run.openWrites();
  await Promise.all(all);
  t.deepEqual(
    run.calls.map((call) => `${call.group}:${call.items.join(',')}`),
    ['a:1', 'a:2,3', 'b:8', 'a:4,5', 'a:6,7'],
    'b waits for one batch of a, not for all of them',
  );
});

test('an item whose statement runs past the run limit is answered 503 at once; its slot stays taken until the statement ends', async (t) => {
  const run = recorder({ runLimitMs: 50 });
  run.holdWrites();
  const started = Date.now();
  const error = await t.throwsAsync(run.batcher.run('g', 1));
  t.true(error instanceof DatabaseBusyError, String(error));
  t.true(Date.now() - started < 5_000);
  const next = run.batcher.run('g', 2);
  await settle();
  t.is(run.calls.length, 1, 'the next item waits: the stuck statement still holds the slot');
  run.openWrites();
  t.is(await next, 'alone:2');
});
