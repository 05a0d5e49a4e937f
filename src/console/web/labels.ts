export const ROLE_NAMES = {
  owner: 'Owner',
  admin: 'Admin',
  location_admin: 'Location Admin',
  trainer: 'Trainer',
} as const;

export const SYSTEM_INTEGRATIONS_DESCRIPTION = 'Ability to use oAuth Personal Access Tokens for machine-to-machine communications';
