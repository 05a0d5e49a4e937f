import type { KeyStatus } from './verifier.js';

/** An API key as listed: never the key itself, nor its hash. */
export interface ApiKey {
  id: string;
  facilityId: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  createdBy: { id: string; name: string };
  /** What the verifier says of its current secret. */
  status: KeyStatus;
}

/** Who changed a key: a staff member, the operator (command line), or a secret-scanning report. */
export type Actor = { type: 'staff'; id: string } | { type: 'system' } | { type: 'secret-scanning' };
