import type { SecurityKind } from '../http/answers.js';
import { forbidden } from '../http/errors.js';
import type { Authenticate, Authenticator, Guard } from '../http/route.js';
import { bearerChallenge, extractBearer } from '../resource-server/bearer.js';
import { allows, type Introspector } from '../resource-server/introspection.js';
import { PERMISSION_LABELS, type Permission, type Role, type StaffMember } from './model.js';
import type { StaffStore } from './store.js';

export const ADMIN_REALM = 'api';

declare module '../http/route.js' {
  interface Principals {
    /** A signed-in staff member (admin API access token). */
    staff: StaffMember;
  }
  interface Requires {
    /** Permissions and roles are guards on the route (`requirePermission`, `requireRole`). */
    staff: undefined;
  }
}

/**
 * Authenticates a staff access token for the admin API: a live token for the
 * admin API audience with the `admin` scope, whose staff member still exists.
 * Role and permissions come from the database on every request, so a change
 * applies to the very next request made with an existing token.
 */
export function createStaffAuthenticator(deps: {
  introspector: Introspector;
  staffStore: StaffStore;
  audience: string;
  scope: string;
}): Authenticator<'staff'> {
  const authenticate: Authenticate<StaffMember> = async function authenticateStaff(ctx, run) {
    const token = extractBearer(ctx, ADMIN_REALM);
    const result = await deps.introspector.introspect(token);
    const staff = allows(result, deps.audience, deps.scope) && result.active && result.sub ? await deps.staffStore.findById(result.sub) : undefined;
    if (!staff) {
      throw bearerChallenge({ realm: ADMIN_REALM, error: 'invalid_token', description: 'The access token is invalid or has expired.' });
    }
    await run(staff);
  };
  // One check for every staff route: what a route may do is in its guards.
  return () => authenticate;
}

/**
 * What a staff route's credentials bring to the OpenAPI document: the OAuth
 * 2.0 scheme staff tokens come from, and the 401 of a missing or bad token.
 * (What a role or permission refuses is the route's guards' 403.)
 */
export function staffSecurity(options: { issuer: string; adminApiResource: string; scope: string }): SecurityKind {
  return {
    scheme: {
      name: 'staffToken',
      definition: {
        type: 'oauth2',
        description: `A staff access token: authorization code + PKCE at /oauth with scope \`${options.scope}\` and resource \`${options.adminApiResource}\`.`,
        flows: {
          authorizationCode: {
            authorizationUrl: `${options.issuer}/auth`,
            tokenUrl: `${options.issuer}/token`,
            scopes: { [options.scope]: 'Use the admin API' },
          },
        },
      },
    },
    scopes: () => [options.scope],
    answers: () => ({
      responses: {
        401: { description: 'No access token, or one that is invalid or expired (`WWW-Authenticate` says which).', headers: { 'WWW-Authenticate': 'always' } },
      },
    }),
  };
}

/** Declares on a route that the caller must hold a permission (read fresh per request). */
export function requirePermission(permission: Permission): Guard<StaffMember> {
  return function checkPermission(staff) {
    if (!staff.permissions[permission]) {
      throw forbidden(`This action needs the ${PERMISSION_LABELS[permission]} permission, which an Owner can grant on the Staff Access tab.`);
    }
  };
}

/** Declares on a route which roles may call it. */
export function requireRole(...roles: Role[]): Guard<StaffMember> {
  return function checkRole(staff) {
    if (!roles.includes(staff.role)) {
      throw forbidden(`This action is limited to: ${roles.join(', ')}.`);
    }
  };
}
