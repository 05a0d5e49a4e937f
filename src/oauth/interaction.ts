import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { z } from 'zod';

import { staffActor, type AuditLog } from '../audit/service.js';
import { readFormBody } from '../http/body.js';
import { AppError } from '../http/errors.js';
import { escapeHtml, renderPage } from '../http/html.js';
import { requestOrigin, type RequestState } from '../http/request-context.js';
import { SINGLE_LINE_TEXT } from '../http/validation.js';
import type { SignIn } from '../staff/sign-in.js';
import { deviceOf, rememberDevice } from '../staff/trusted-device.js';

const loginForm = z.object({
  email: z.string().trim().max(254).regex(SINGLE_LINE_TEXT).default(''),
  password: z.string().max(1024).default(''),
});

const GENERIC_LOGIN_ERROR = 'Invalid email or password.';

function renderLogin(options: { uid: string; email: string; error?: string; clientName: string }): string {
  const action = `/oauth/interaction/${encodeURIComponent(options.uid)}/login`;
  return renderPage(
    'Sign in',
    `<h1>Sign in</h1>
<p class="muted">to continue to ${escapeHtml(options.clientName)}</p>
${options.error ? `<p class="error" role="alert" id="login-error">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}" novalidate>
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(options.email)}"${options.error ? ' aria-describedby="login-error"' : ''} autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,
  );
}

/**
 * Our login interaction, in place of oidc-provider's devInteractions: a plain
 * HTML form that posts email and password. A failed sign-in shows the same
 * message whether the email or the password was wrong.
 */
export function createInteractionRouter(deps: { provider: Provider; signIn: SignIn; audit: AuditLog; publicUrl: string }) {
  const { provider, signIn, audit } = deps;
  const publicUrlIsHttps = deps.publicUrl.startsWith('https://');
  const router = new Router({ prefix: '/oauth/interaction' });

  router.use(async function interactionHeaders(ctx: Context, next: Next) {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      if (error instanceof errors.SessionNotFound) {
        throw new AppError({
          status: 400,
          code: 'interaction-expired',
          title: 'Sign-in expired',
          detail: 'This sign-in page has expired. Go back to the app and sign in again.',
        });
      }
      throw error;
    }
  });

  router.get('/:uid', async function showInteraction(ctx) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const client = await provider.Client.find(String(details.params.client_id));
    if (details.prompt.name !== 'login') {
      // First-party grants are created by loadExistingGrant; there is no consent screen. A client
      // that asks for one (prompt=consent) gets the OAuth answer back at its redirect URI.
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'consent_required', error_description: 'This server has no consent screen; first-party applications need none.' },
        { mergeWithLastSubmission: false },
      );
      ctx.respond = false;
      return;
    }
    ctx.type = 'html';
    ctx.body = renderLogin({
      uid: details.uid,
      email: typeof details.params.login_hint === 'string' ? details.params.login_hint : '',
      clientName: client?.clientName ?? 'Octiv',
    });
  });

  router.post('/:uid/login', async function submitLogin(ctx) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') {
      throw new AppError({ status: 400, code: 'unsupported-prompt', title: 'Cannot continue', detail: 'This sign-in step is not expected now.' });
    }
    const form = loginForm.safeParse(await readFormBody(ctx));
    const { email, password } = form.success ? form.data : { email: '', password: '' };
    const origin = requestOrigin(ctx);
    const client = await provider.Client.find(String(details.params.client_id));
    const clientName = client?.clientName ?? 'Octiv';
    const result = await signIn({ email, password, ip: ctx.ip, device: deviceOf(ctx) });
    if (!result.ok && result.limited) {
      const wait = result.retryAfter;
      (ctx.state as RequestState).log.info({ event: 'login.limited', ip: origin.ip, trustedDevice: result.trustedDevice }, 'sign-in refused: too many failures');
      ctx.status = 429;
      ctx.set('Retry-After', String(wait));
      ctx.type = 'html';
      ctx.body = renderLogin({ uid: details.uid, email, error: `Too many failed sign-ins. Try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}.`, clientName });
      return;
    }
    if (!result.ok) {
      const { account } = result;
      // Under the account's facility when the email is one; never the password, nor what was typed for an unknown email.
      (ctx.state as RequestState).log.info({ event: 'login.failed', staffId: account?.id, ip: origin.ip, trustedDevice: result.trustedDevice }, 'sign-in failed');
      await audit.record({
        facilityId: account?.facilityId ?? null,
        action: 'staff.sign_in_failed',
        actor: { type: 'system', name: 'sign-in' },
        ...(account ? { target: { type: 'staff' as const, id: account.id, name: account.name }, details: { email: account.email } } : {}),
        origin,
      });
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = renderLogin({ uid: details.uid, email, error: GENERIC_LOGIN_ERROR, clientName });
      return;
    }
    const { staff } = result;
    (ctx.state as RequestState).log.info({ event: 'login.succeeded', staffId: staff.id, ip: origin.ip, trustedDevice: result.trustedDevice }, 'sign-in succeeded');
    rememberDevice(ctx, { id: staff.id, passwordHash: result.passwordHash }, { https: publicUrlIsHttps });
    await audit.record({ facilityId: staff.facilityId, action: 'staff.signed_in', actor: staffActor(staff), target: { type: 'staff', id: staff.id, name: staff.name }, origin, details: { email: staff.email } });
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: staff.id } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.get('/:uid/abort', async function abortInteraction(ctx) {
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'The sign-in was cancelled.' },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return router;
}
