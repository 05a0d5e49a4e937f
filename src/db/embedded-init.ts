import { PGlite } from '@electric-sql/pglite';

// Creates an embedded database cluster in the folder given, then exits (see
// openEmbedded). It stops when the process that started it goes away (its IPC
// channel closes), as soon as initdb gives the event loop a turn.
const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: embedded-init <data folder>');
process.on('disconnect', () => process.exit(1));
const pglite = new PGlite(dataDir);
await pglite.waitReady;
await pglite.close();
process.exit(0);
