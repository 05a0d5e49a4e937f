import type { Knex } from 'knex';

import * as apiKeys from './20261130150000_api_keys.js';
import * as foundation from './20261130140000_foundation.js';
import * as leads from './20261130160000_leads.js';
import * as keySecrets from './20261201100000_key_secrets.js';
import * as keyLifecycle from './20261201110000_key_lifecycle.js';
import * as auditLog from './20261201120000_audit_log.js';
import * as stableLeadsAudience from './20261201130000_stable_leads_audience.js';
import * as limitsAndHashedSessions from './20261201140000_limits_and_hashed_sessions.js';
import * as keyNameLookAlikes from './20261202100000_key_name_look_alikes.js';
import * as auditHistory from './20261206100000_audit_history.js';
import * as locationsAndReads from './20261206110000_locations_and_reads.js';
import * as webhooks from './20261206120000_webhooks.js';
import * as apiKeyUsageDays from './20261207100000_api_key_usage_days.js';
import * as idempotencyKeysOnLeads from './20261208100000_idempotency_keys_on_leads.js';

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Every migration, oldest first. Listed here rather than globbed from disk so
 * that the compiled server, the tests and both database kinds load exactly the
 * same set, with no file-extension guessing.
 */
export const migrations: Migration[] = [
  { name: '20261130140000_foundation', ...foundation },
  { name: '20261130150000_api_keys', ...apiKeys },
  { name: '20261130160000_leads', ...leads },
  { name: '20261201100000_key_secrets', ...keySecrets },
  { name: '20261201110000_key_lifecycle', ...keyLifecycle },
  { name: '20261201120000_audit_log', ...auditLog },
  { name: '20261201130000_stable_leads_audience', ...stableLeadsAudience },
  { name: '20261201140000_limits_and_hashed_sessions', ...limitsAndHashedSessions },
  { name: '20261202100000_key_name_look_alikes', ...keyNameLookAlikes },
  { name: '20261206100000_audit_history', ...auditHistory },
  { name: '20261206110000_locations_and_reads', ...locationsAndReads },
  { name: '20261206120000_webhooks', ...webhooks },
  { name: '20261207100000_api_key_usage_days', ...apiKeyUsageDays },
  { name: '20261208100000_idempotency_keys_on_leads', ...idempotencyKeysOnLeads },
];
