import type { Config } from '../config.js';
import type { Requirement } from '../shared/requirement.js';

/**
 * The scope catalogue: every scope an API key can carry, in one place, with
 * what it lets a system do in words an Owner reads in the create dialog.
 * Adding an integration type is one entry here (its API's audience included).
 */
export const SCOPES = [
  {
    name: 'leads:create',
    description: 'Add new leads to this facility, for example from a website form or a landing page.',
    audience: (config: Config) => config.leadsApiResource,
  },
  {
    name: 'leads:read',
    description: 'See this facility\'s leads, including those added by staff or other systems, for example to keep a CRM in step.',
    audience: (config: Config) => config.leadsApiResource,
  },
] as const;

export type ScopeName = (typeof SCOPES)[number]['name'];

export const LEADS_CREATE: ScopeName = 'leads:create';
export const LEADS_READ: ScopeName = 'leads:read';

export const SCOPE_NAMES = SCOPES.map((scope) => scope.name) as [ScopeName, ...ScopeName[]];

/** The audiences (resource indicators) a key with these scopes is valid for. */
export function audiencesFor(config: Config, scopes: readonly string[]): string[] {
  return [...new Set(SCOPES.filter((scope) => scopes.includes(scope.name)).map((scope) => scope.audience(config)))];
}

/**
 * What each scope requires of a key, built once (the composition root does
 * it): an operation's requirement is one of these objects, and the key list
 * judges keys by `any` of its API (no one scope).
 */
export function createRequirements(config: Config) {
  const made = new Map<string, Requirement>();
  /** The requirement of any one of `scopes` (all of one API), for an operation that places at a location or not; made once per value. */
  function of(scopes: ScopeName | readonly ScopeName[], options: { places?: boolean } = {}): Requirement {
    const sorted = [...new Set(typeof scopes === 'string' ? [scopes] : scopes)].sort();
    const places = options.places ?? false;
    const id = `${sorted.join(' ')}|${places}`;
    let requirement = made.get(id);
    if (!requirement) {
      const audiences = audiencesFor(config, sorted);
      if (audiences.length !== 1) throw new Error(`scopes ${sorted.join(' ')} must all belong to one API`);
      made.set(id, (requirement = Object.freeze({ audience: audiences[0]!, scopes: Object.freeze(sorted), places })));
    }
    return requirement;
  }
  return {
    of,
    /** A key of the Leads API, whatever its scopes of that API: for the list, introspection and leak reports. */
    anyLeadsScope: of(SCOPE_NAMES.filter((name) => SCOPES.find((scope) => scope.name === name)!.audience(config) === config.leadsApiResource)),
  };
}

export type Requirements = ReturnType<typeof createRequirements>;
