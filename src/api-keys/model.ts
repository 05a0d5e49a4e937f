import type { RateLimit } from '../facilities/store.js';
import type { RefusedOutcome } from './usage-counts.js';
import type { KeyStatus } from './verifier.js';

/** An API key as listed: never the key itself, nor its hash. */
export interface ApiKey {
  id: string;
  facilityId: string;
  name: string;
  scopes: string[];
  /** The locations the key is limited to; null for every location of its facility. */
  locationIds: string[] | null;
  createdAt: Date;
  createdBy: { id: string; name: string };
  /** What the verifier says of its secrets. */
  status: KeyStatus;
  expiresAt: Date | null;
  /** The effective rate limit: the key's own, or the facility's default. */
  rateLimit: RateLimit;
  /** `oct_pat_…` and the last four characters of the current secret (null for keys made before hints). */
  hint: string | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  leadsCreated: number;
  /** During a rotation: when the previous secret stops working, and when it was last used. */
  rotation: { previousExpiresAt: Date; previousLastUsedAt: Date | null } | null;
  /** A revoked key: when, why, by whom, and (for a leaked key) where it was found. */
  revocation: { revokedAt: Date; reason: string; by: 'staff' | 'system' | 'secret-scanning' | 'operator'; url: string | null; source: string | null } | null;
}

/** One UTC day of a key's use. */
export interface UsageDay {
  /** `YYYY-MM-DD` (UTC). */
  date: string;
  leadsCreated: number;
  /** Every request that presented one of the key's secrets, accepted or refused. */
  requests: number;
  /** Of those, the refused ones by reason (reasons with none left out). */
  refused: Partial<Record<RefusedOutcome, number>>;
}
