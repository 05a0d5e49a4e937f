import { useState } from 'preact/hooks';

import { ApiError, call, type KeyPolicy, type Me } from '../api.js';
import { describedBy, FieldMessage } from '../controls.js';
import { perWindow, plural } from '../format.js';

/**
 * The facility's key settings: maximum lifetime and default rate limit. The
 * Owner changes them; staff with the permission read them.
 */
export function KeyPolicyCard(props: { me: Me; policy: KeyPolicy; onSaved: (policy: KeyPolicy) => void; onError: (error: unknown) => void }) {
  const { policy } = props;
  const owner = props.me.role === 'owner';
  const [maxDays, setMaxDays] = useState(policy.maxLifetimeDays === null ? '' : String(policy.maxLifetimeDays));
  const [limit, setLimit] = useState(String(policy.defaultRateLimit.limit));
  const [windowSeconds, setWindowSeconds] = useState(String(policy.defaultRateLimit.windowSeconds));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string>();
  const [busy, setBusy] = useState(false);

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setSaved(undefined);
    try {
      const body = {
        maxLifetimeDays: maxDays.trim() === '' ? null : Number(maxDays),
        defaultRateLimit: { limit: Number(limit), windowSeconds: Number(windowSeconds) },
      };
      const answer = await call('PUT', '/settings/api-keys', { body });
      setErrors({});
      props.onSaved(answer);
      setSaved(
        `Saved.${answer.keysBeyondMaxLifetime ? ` ${plural(answer.keysBeyondMaxLifetime, 'existing key')} outlive${answer.keysBeyondMaxLifetime === 1 ? 's' : ''} the new maximum and keep${answer.keysBeyondMaxLifetime === 1 ? 's' : ''} its expiry.` : ''}`,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        setErrors({ maxLifetimeDays: error.fields.maxLifetimeDays ?? '', defaultRateLimit: error.fields.defaultRateLimit ?? '' });
      } else if (error instanceof ApiError && error.status === 403) setErrors({ form: error.message });
      else props.onError(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="policy-title">
      <h2 id="policy-title">Key settings</h2>
      {!owner && (
        <p class="wrap">
          New keys {policy.maxLifetimeDays === null ? 'may live for ever' : `live at most ${plural(policy.maxLifetimeDays, 'day')}`}; a key without its own limit
          may make {policy.defaultRateLimit.limit.toLocaleString('en-US')} requests a {perWindow(policy.defaultRateLimit.windowSeconds)}. Only an Owner changes
          these.
        </p>
      )}
      {owner && (
        <form onSubmit={save} noValidate class="policy">
          {errors.form && (
            <p class="error" role="alert">
              {errors.form}
            </p>
          )}
          <label for="max-lifetime">Maximum key lifetime (days)</label>
          <input
            id="max-lifetime"
            inputMode="numeric"
            value={maxDays}
            placeholder="No maximum"
            aria-describedby={describedBy('max-lifetime', errors.maxLifetimeDays)}
            aria-invalid={errors.maxLifetimeDays ? 'true' : undefined}
            onInput={(event) => setMaxDays((event.currentTarget as HTMLInputElement).value)}
          />
          <FieldMessage
            id="max-lifetime"
            error={errors.maxLifetimeDays}
            hint="1 to 3650, or empty for no maximum. It applies to keys created after you save; existing keys keep their expiry."
          />
          <fieldset aria-describedby={describedBy('rate', errors.defaultRateLimit, false)}>
            <legend>Default rate limit</legend>
            <div class="inline-fields">
              <label for="rate-limit">Requests</label>
              <input id="rate-limit" inputMode="numeric" value={limit} onInput={(event) => setLimit((event.currentTarget as HTMLInputElement).value)} />
              <label for="rate-window">per seconds</label>
              <input id="rate-window" inputMode="numeric" value={windowSeconds} onInput={(event) => setWindowSeconds((event.currentTarget as HTMLInputElement).value)} />
            </div>
            <FieldMessage id="rate" error={errors.defaultRateLimit} />
          </fieldset>
          {saved && (
            <p class="success" role="status">
              {saved}
            </p>
          )}
          <div class="buttons start">
            <button type="submit" disabled={busy}>
              {busy ? 'Saving…' : 'Save settings'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
