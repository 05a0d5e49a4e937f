/**
 * What an operation requires of an API key: the API it is for (the
 * audience, a resource indicator) and the scope the operation needs. The key
 * verifier judges every key against one; a route declares its scope, and
 * the requirement is built once per route when routes are mounted.
 */
export interface Requirement {
  readonly audience: string;
  /** The key must hold at least one of these (an operation open to several scopes lists them all). */
  readonly scopes: readonly string[];
  /**
   * The operation places what it makes at a location (a lead): a key
   * limited to several locations must then be told which.
   */
  readonly places: boolean;
}

const keys = new WeakMap<Requirement, string>();

/**
 * A requirement as a value (for maps keyed by what it requires, never by
 * which object it is). Requirements are built once per route and asked of
 * on every request: each one's key is made once.
 */
export function requirementKey(requirement: Requirement): string {
  let key = keys.get(requirement);
  if (key === undefined) {
    key = JSON.stringify([requirement.audience, requirement.scopes, requirement.places]);
    keys.set(requirement, key);
  }
  return key;
}
