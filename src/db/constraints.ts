/**
 * The name of the constraint a Postgres error violated (unique, foreign key,
 * check), or undefined. The same for `pg` and the embedded database.
 */
export function violatedConstraint(error: unknown): string | undefined {
  const candidate = error as { code?: string; constraint?: string } | undefined;
  if (!candidate?.code || !['23505', '23503', '23514'].includes(candidate.code)) return undefined;
  return candidate.constraint;
}
