import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

import { CopyButton, Switch } from './controls.js';
import { Dialog } from './dialog.js';

/**
 * Shows a new secret once: an API key after create or rotate, a webhook
 * endpoint's signing secret. The secret, Copy, what to do with it, then the
 * switch "I have copied ... and stored it securely": Done stays disabled
 * until it is on, and Escape does not skip it. The field is marked
 * `data-secret` (screenshots mask it: a secret never goes into a snapshot).
 */
export function ShownOnceDialog(props: {
  title: string;
  /** The field's id (`${id}-once` is the intro's, `${id}-stored` the switch's). */
  id: string;
  intro: ComponentChildren;
  label: string;
  secret: string;
  stored: string;
  children?: ComponentChildren;
  onDone: () => void;
}) {
  const [stored, setStored] = useState(false);
  return (
    <Dialog title={props.title} onEscape={stored ? props.onDone : undefined} describedBy={`${props.id}-once`} wide>
      <p id={`${props.id}-once`} class="wrap">
        {props.intro}
      </p>
      <label for={props.id}>{props.label}</label>
      <div class="key-row">
        <input
          id={props.id}
          data-secret
          readOnly
          value={props.secret}
          spellcheck={false}
          autoComplete="off"
          onFocus={(event) => (event.currentTarget as HTMLInputElement).select()}
        />
        <CopyButton text={props.secret} autofocus />
      </div>
      {props.children}
      <Switch id={`${props.id}-stored`} label={props.stored} checked={stored} onChange={setStored} />
      <div class="buttons">
        <button type="button" disabled={!stored} onClick={props.onDone}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
