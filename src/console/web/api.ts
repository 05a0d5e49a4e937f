import { currentSession, forgetSession } from './auth.js';

export interface Me {
  id: string;
  facilityId: string;
  name: string;
  email: string;
  role: 'owner' | 'admin' | 'location_admin' | 'trainer';
  permissions: { systemIntegrations: boolean };
}
export type StaffMember = Omit<Me, 'facilityId'>;
export interface Scope {
  name: string;
  description: string;
}
export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  createdBy: { id: string; name: string };
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
