/** One field-level validation failure, as sent in a problem's `errors`. */
export interface FieldError {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  status: number;
  /** Stable, machine-readable code; also the last segment of the problem type URL. */
  code: string;
  title: string;
  detail?: string;
  errors?: FieldError[];
  /** Extra members of the problem body (e.g. `leadId`). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Internal cause: logged, never sent. */
  cause?: unknown;
}

/**
 * The one error type the HTTP layer turns into a response. Only errors below
 * 500 show their detail to the client (`expose`); a 5xx is logged with its
 * cause and answered with a generic body.
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;
  readonly expose: boolean;

  constructor(options: AppErrorOptions) {
    super(options.detail ?? options.title, { cause: options.cause });
    this.name = 'AppError';
    this.status = options.status;
    this.code = options.code;
    this.title = options.title;
    this.detail = options.detail;
    this.errors = options.errors;
    this.extra = options.extra;
    this.headers = options.headers ?? {};
    this.expose = options.status < 500 || options.status === 501;
  }
}

export const badRequest = (detail: string) => new AppError({ status: 400, code: 'bad-request', title: 'Bad request', detail });

export const validationFailed = (errors: FieldError[]) =>
  new AppError({
    status: 400,
    code: 'validation',
    title: 'Validation failed',
    detail: errors.map((error) => `${error.path || 'body'}: ${error.message}`).join('; '),
    errors,
  });

export const notFound = (detail = 'No resource at this address.') =>
  new AppError({ status: 404, code: 'not-found', title: 'Not found', detail });

export const forbidden = (detail: string, errors?: FieldError[]) => new AppError({ status: 403, code: 'forbidden', title: 'Forbidden', detail, ...(errors ? { errors } : {}) });

export const conflict = (detail: string, extra?: Record<string, unknown>) =>
  new AppError({ status: 409, code: 'conflict', title: 'Conflict', detail, ...(extra ? { extra } : {}) });

export const serviceUnavailable = (cause?: unknown) =>
  new AppError({
    status: 503,
    code: 'unavailable',
    title: 'Service unavailable',
    detail: 'The service cannot reach its database right now. Retry later.',
    headers: { 'Retry-After': '5' },
    cause,
  });
