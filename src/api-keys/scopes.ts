import type { Config } from '../config.js';

/**
 * The scope catalogue: every scope an API key can carry, in one place.
 * Adding an integration type is one entry here (its API's audience included).
 */
export const SCOPES = [
  {
    name: 'leads:create',
    description: 'Create lead members in this facility through the Leads API.',
    audience: (config: Config) => config.leadsApiResource,
  },
] as const;

export type ScopeName = (typeof SCOPES)[number]['name'];

/** The scope the Leads API requires. */
export const LEADS_CREATE: ScopeName = 'leads:create';

export const SCOPE_NAMES = SCOPES.map((scope) => scope.name) as [ScopeName, ...ScopeName[]];

/** The audiences (resource indicators) a key with these scopes is valid for. */
export function audiencesFor(config: Config, scopes: readonly string[]): string[] {
  return [...new Set(SCOPES.filter((scope) => scopes.includes(scope.name)).map((scope) => scope.audience(config)))];
}
