import type { ApiKey, FacilityLocation } from './api.js';

export const ROLE_NAMES = {
  owner: 'Owner',
  admin: 'Admin',
  location_admin: 'Location Admin',
  trainer: 'Trainer',
} as const;

export const SYSTEM_INTEGRATIONS_DESCRIPTION = 'Ability to use oAuth Personal Access Tokens for machine-to-machine communications';

/** Why a key's request was refused, in a few words (the usage chart's legend and table). */
export const REFUSAL_LABELS: Record<string, string> = {
  rotated_out: 'Old key after rotation',
  expired: 'Expired key',
  revoked: 'Revoked key',
  deleted: 'Deleted key',
  insufficient_scope: 'Not allowed by its scopes',
  location_not_allowed: 'Another location',
  location_required: 'No location named',
  rate_limited: 'Over the rate limit',
  unknown: 'Secret no longer stored',
  invalid: 'Secret not valid',
  wrong_audience: 'Meant for another API',
};

export const refusalLabel = (reason: string) => REFUSAL_LABELS[reason] ?? reason.replaceAll('_', ' ');

/** Where a key works: every location, or the names of those it is limited to. */
export function locationsText(apiKey: ApiKey, locations: FacilityLocation[]): string {
  if (apiKey.locationIds === null) return 'All locations';
  return apiKey.locationIds.map((id) => locations.find((location) => location.id === id)?.name ?? 'A removed location').join(', ');
}
