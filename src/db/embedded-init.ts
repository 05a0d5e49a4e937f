import { PGlite } from '@electric-sql/pglite';

// Creates an embedded database cluster in the folder given, then exits (see openEmbedded).
const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: embedded-init <data folder>');
const pglite = new PGlite(dataDir);
await pglite.waitReady;
await pglite.close();
