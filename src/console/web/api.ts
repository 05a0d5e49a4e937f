import { currentSession, forgetSession } from './auth.js';

export interface Me {
  id: string;
  facilityId: string;
  facilityName: string;
  name: string;
  email: string;
  role: 'owner' | 'admin' | 'location_admin' | 'trainer';
  permissions: { systemIntegrations: boolean };
}
export type StaffMember = Omit<Me, 'facilityId' | 'facilityName'>;
export interface Scope {
  name: string;
  description: string;
}
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}
export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  createdBy: { id: string; name: string };
  status: 'active' | 'rotating' | 'expired' | 'revoked' | 'invalid';
  expiresAt: string | null;
  rateLimit: RateLimit;
  hint: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  leadsCreated: number;
  rotation: { previousExpiresAt: string; previousLastUsedAt: string | null } | null;
  revocation: { revokedAt: string; reason: string; by: 'staff' | 'system' | 'secret-scanning'; url: string | null; source: string | null } | null;
}
export type CreatedKey = ApiKey & { key: string };
export interface KeyPolicy {
  maxLifetimeDays: number | null;
  defaultRateLimit: RateLimit;
  keysBeyondMaxLifetime: number;
}
export interface AuditEvent {
  id: string;
  occurredAt: string;
  action: string;
  actor: { type: 'staff' | 'system' | 'secret-scanning'; id: string | null; name: string | null };
  target: { type: 'api_key' | 'staff'; id: string; name: string } | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

/** An API failure, in words a gym owner can act on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const SESSION_EXPIRED = 'Your sign-in has expired. Please sign in again.';

function plainWords(status: number, problem: { detail?: string; title?: string } | undefined): string {
  if (status === 401) return SESSION_EXPIRED;
  if (status === 403) return problem?.detail ?? 'You do not have permission to do this.';
  if (status === 409 && problem?.detail) return problem.detail;
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return problem?.detail ?? problem?.title ?? `The request failed (${status}).`;
}

/** Downloads a CSV answer of /api/v1 as a file (the token stays in a header, never in a URL). */
export async function downloadCsv(path: string, filename: string): Promise<void> {
  const session = currentSession();
  if (!session) throw new ApiError(401, SESSION_EXPIRED);
  const response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.accessToken}`, Accept: 'text/csv' } });
  if (!response.ok) throw new ApiError(response.status, plainWords(response.status, undefined));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Calls /api/v1 with the signed-in staff member's token. */
export async function call<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  const session = currentSession();
  if (!session) throw new ApiError(401, SESSION_EXPIRED);
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method: options.method ?? 'GET',
      headers: {
        Authorization: `Bearer ${session.accessToken}`,
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const body = (await response.json().catch(() => undefined)) as
    | (T & { detail?: string; title?: string; errors?: { path: string; message: string }[] })
    | undefined;
  if (!response.ok) {
    if (response.status === 401) forgetSession();
    const fields = Object.fromEntries((body?.errors ?? []).map((error) => [error.path.split('.')[0] ?? error.path, error.message]));
    throw new ApiError(response.status, plainWords(response.status, body), fields);
  }
  return body as T;
}
