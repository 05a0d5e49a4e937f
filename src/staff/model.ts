export const ROLES = ['owner', 'admin', 'location_admin', 'trainer'] as const;
export type Role = (typeof ROLES)[number];

/** Permissions a staff member can hold; each is read from the database per request. */
export type Permission = 'systemIntegrations';

export const PERMISSION_LABELS: Record<Permission, string> = { systemIntegrations: 'System Integrations' };

export interface StaffMember {
  id: string;
  facilityId: string;
  name: string;
  email: string;
  role: Role;
  permissions: Record<Permission, boolean>;
}

export const SYSTEM_INTEGRATIONS_DESCRIPTION =
  'Ability to use oAuth Personal Access Tokens for machine-to-machine communications';
