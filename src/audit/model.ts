import type { RequestOrigin } from '../http/request-context.js';

export type { RequestOrigin } from '../http/request-context.js';

/** Every action the audit log records. */
export const AUDIT_ACTIONS = [
  'api_key.created',
  'api_key.rotated',
  'api_key.previous_revoked',
  'api_key.deleted',
  'api_key.revoked',
  'api_key.revoked_leaked',
  'api_key.first_used_from_ip',
  'staff.permission_granted',
  'staff.permission_revoked',
  'staff.signed_in',
  'staff.sign_in_failed',
  'settings.api_keys_changed',
  'facility.created',
  'staff.added',
  'webhook_endpoint.created',
  'webhook_endpoint.updated',
  'webhook_endpoint.deleted',
  'webhook_endpoint.secret_rotated',
  'webhook_endpoint.disabled',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who did something: a staff member, the system itself (usage tracking,
 * housekeeping), a secret-scanning report, or the operator's command line
 * (named by the account and host it ran on, where known).
 */
export type Actor =
  | { type: 'staff'; id: string; name: string }
  | { type: 'system'; name?: string }
  | { type: 'secret-scanning'; name?: string }
  | { type: 'operator'; name?: string };

export interface Target {
  type: 'api_key' | 'staff' | 'facility' | 'webhook_endpoint';
  id: string;
  name: string;
}


/** No request: the command line, a background task. */
export const NO_ORIGIN: RequestOrigin = { ip: null, userAgent: null, requestId: null };

export interface NewAuditEvent {
  /** Null only for what belongs to no facility (a sign-in attempt for an unknown email). */
  facilityId: string | null;
  action: AuditAction;
  actor: Actor;
  target?: Target;
  origin: RequestOrigin;
  /** What else tells the story (scopes of a new key, a rotation's grace). Never a key, a hash, a password or a token. */
  details?: Record<string, unknown>;
}

export interface AuditEvent extends Required<Omit<NewAuditEvent, 'facilityId' | 'target'>> {
  id: string;
  facilityId: string | null;
  occurredAt: Date;
  target: Target | null;
}
