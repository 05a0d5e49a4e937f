import type { Knex } from 'knex';

import { hashPassword } from '../src/staff/passwords.js';

/** Fixed ids, so seeding twice changes nothing and demos can link to them. */
export const DEMO = {
  demoFitness: {
    id: '0b6f4a2e-3c1d-4e8f-9a7b-1d2c3e4f5a61',
    name: 'Demo Fitness',
    locations: [
      { id: '5f1e2d3c-4b5a-4968-8776-a1b2c3d4e5f1', name: 'Demo Fitness Downtown' },
      { id: '6a2f3e4d-5c6b-4a79-9887-b2c3d4e5f6a2', name: 'Demo Fitness Riverside' },
    ],
    staff: [
      { id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e01', email: 'owner@demo.test', name: 'Olivia Owner', role: 'owner' },
      { id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e02', email: 'admin@demo.test', name: 'Adam Admin', role: 'admin' },
      { id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e03', email: 'location.admin@demo.test', name: 'Lena Location-Admin', role: 'location_admin' },
      { id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e04', email: 'trainer@demo.test', name: 'Theo Trainer', role: 'trainer' },
    ],
  },
  otherGym: {
    id: '2d7e8f90-a1b2-4c3d-8e4f-5a6b7c8d9e02',
    name: 'Other Gym',
    locations: [{ id: '7b3a4f5e-6d7c-4b8a-a998-c3d4e5f6a7b3', name: 'Other Gym Main Street' }],
    staff: [{ id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e05', email: 'owner@other.test', name: 'Oscar Owner', role: 'owner' }],
  },
} as const;

/**
 * Loads the demo data of API.md: two facilities, their locations and staff,
 * every account with `password`. Idempotent: existing rows are left alone.
 */
export async function seedDemo(db: Knex, options: { password: string }): Promise<void> {
  const passwordHash = await hashPassword(options.password);
  await db.transaction(async (trx) => {
    for (const facility of [DEMO.demoFitness, DEMO.otherGym]) {
      await trx('facilities').insert({ id: facility.id, name: facility.name }).onConflict('id').ignore();
      for (const location of facility.locations) {
        await trx('locations').insert({ ...location, facility_id: facility.id }).onConflict('id').ignore();
      }
      for (const member of facility.staff) {
        await trx('staff')
          .insert({
            ...member,
            facility_id: facility.id,
            password_hash: passwordHash,
            system_integrations: member.role === 'owner',
          })
          .onConflict('id')
          .ignore();
      }
    }
  });
}

/** True when the database holds no facility yet (a fresh embedded database). */
export async function isEmpty(db: Knex): Promise<boolean> {
  const row = await db('facilities').first('id');
  return !row;
}

/** True when the demo Owner exists (the start says how to sign in as them). */
export async function hasDemoData(db: Knex): Promise<boolean> {
  return (await db('staff').where({ id: DEMO.demoFitness.staff[0].id }).first('id')) !== undefined;
}
