import type { Knex } from 'knex';

/**
 * Webhooks, the first outbound integration type (API.md "Webhooks").
 *
 * - `webhook_endpoints`: where a facility's events go, and which events.
 * - `webhook_secrets`: an endpoint's signing secrets, sealed (AES-256-GCM,
 *   with a key derived from the server's keys: a copy of the database signs
 *   nothing). The current one has no end; during a rotation the previous one
 *   signs too until `ends_at`.
 * - `webhook_events`: what happened, stored in the same transaction as its
 *   cause; `webhook_deliveries`: one per event and endpoint, the log staff
 *   read and what the delivery worker works from.
 * - A statement-level trigger on members writes `lead.created` for every
 *   new lead, whatever wrote it (the Leads API's one statement for many
 *   leads included), in its transaction, and only for a facility with an
 *   endpoint that wants it: a facility without one pays one look-up per
 *   statement.
 * - `api_key_expiry_notices`: which `api_key.expiring` notices (7 and 1 days
 *   before) were sent, so every process's scheduler sends each once.
 */
export async function up(knex: Knex): Promise<void> {
  await createEndpointTables(knex);
  await createEventTables(knex);
  await createLeadCreatedTrigger(knex);
  await knex.raw(`create table api_key_expiry_notices (
    key_id uuid not null references api_keys(id) on delete cascade,
    days_before int not null,
    sent_at timestamptz not null default now(),
    primary key (key_id, days_before)
  )`);
}

/** Endpoints and their sealed secrets. */
async function createEndpointTables(knex: Knex): Promise<void> {
  await knex.raw(`create table webhook_endpoints (
    id uuid primary key,
    facility_id uuid not null references facilities(id) on delete cascade,
    url text not null,
    description text,
    events text[] not null check (cardinality(events) > 0),
    enabled boolean not null default true,
    disabled_reason text,
    failing_since timestamptz,
    created_at timestamptz not null default now(),
    created_by uuid references staff(id) on delete set null
  )`);
  await knex.raw('create index webhook_endpoints_facility on webhook_endpoints (facility_id, created_at desc)');

  await knex.raw(`create table webhook_secrets (
    id uuid primary key,
    endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
    sealed jsonb not null,
    hint text not null,
    created_at timestamptz not null default now(),
    ends_at timestamptz
  )`);
  await knex.raw('create unique index webhook_secrets_one_current on webhook_secrets (endpoint_id) where ends_at is null');
}

/** Events and their deliveries (one per event and endpoint). */
async function createEventTables(knex: Knex): Promise<void> {

  await knex.raw(`create table webhook_events (
    id text primary key,
    facility_id uuid not null references facilities(id) on delete cascade,
    type text not null,
    data jsonb not null,
    created_at timestamptz not null default now()
  )`);

  await knex.raw(`create table webhook_deliveries (
    id uuid primary key,
    event_id text not null references webhook_events(id) on delete cascade,
    endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
    status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
    attempts int not null default 0,
    next_attempt_at timestamptz not null default now(),
    enqueued_attempt int not null default 0,
    attempting_since timestamptz,
    last_attempt_at timestamptz,
    response_status int,
    duration_ms int,
    error text,
    created_at timestamptz not null default clock_timestamp(),
    unique (event_id, endpoint_id)
  )`);
  await knex.raw('create index webhook_deliveries_log on webhook_deliveries (endpoint_id, created_at desc, id desc)');
  await knex.raw(`create index webhook_deliveries_to_enqueue on webhook_deliveries (created_at) where status = 'pending' and enqueued_attempt <= attempts`);
}

/** lead.created for every new lead, whatever wrote it, in its statement's transaction. */
async function createLeadCreatedTrigger(knex: Knex): Promise<void> {

  // The endpoints of a facility that want an event type.
  await knex.raw(`create function webhook_endpoints_wanting(facility uuid, event_type text) returns setof uuid language sql stable as $$
    select id from webhook_endpoints
    where facility_id = facility and enabled and (event_type = any(events) or '*' = any(events))
  $$`);

  await knex.raw(`create function members_lead_created() returns trigger language plpgsql as $$
    begin
      with wanted as (
        select n.id as lead_id, n.facility_id, e.id as endpoint_id
        from new_members n
        cross join lateral webhook_endpoints_wanting(n.facility_id, 'lead.created') e(id)
        where n.status = 'lead'),
      events as (
        insert into webhook_events (id, facility_id, type, data)
        select distinct 'evt_' || lead_id::text, facility_id, 'lead.created', jsonb_build_object('leadId', lead_id) from wanted
        on conflict do nothing
        returning id)
      insert into webhook_deliveries (id, event_id, endpoint_id)
      select gen_random_uuid(), 'evt_' || lead_id::text, endpoint_id from wanted;
      return null;
    end $$`);
  await knex.raw(`create trigger members_lead_created after insert on members
    referencing new table as new_members for each statement execute function members_lead_created()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table api_key_expiry_notices');
  await knex.raw('drop trigger members_lead_created on members');
  await knex.raw('drop function members_lead_created');
  await knex.raw('drop function webhook_endpoints_wanting');
  await knex.raw('drop table webhook_deliveries');
  await knex.raw('drop table webhook_events');
  await knex.raw('drop table webhook_secrets');
  await knex.raw('drop table webhook_endpoints');
}
