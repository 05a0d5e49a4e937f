import type { ComponentChildren } from 'preact';
import { useId, useState } from 'preact/hooks';

/** Copies text to the clipboard, saying in a live region whether it worked. */
export function CopyButton(props: { text: string; label?: string; describedBy?: string; autofocus?: boolean }) {
  const [said, setSaid] = useState<string>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setSaid('Copied to the clipboard.');
    } catch {
      setSaid('Copying failed: select the text and copy it by hand.');
    }
  };
  return (
    <>
      <button type="button" class="secondary" onClick={copy} aria-describedby={props.describedBy} data-autofocus={props.autofocus ? true : undefined}>
        {props.label ?? 'Copy'}
      </button>
      <span class="muted copy-said" aria-live="polite">
        {said}
      </span>
    </>
  );
}

/**
 * An on/off switch: a button with role="switch" and aria-checked, operable
 * with Space and Enter, drawn as a toggle, labelled by its text.
 */
export function Switch(props: { label: string; checked: boolean; onChange: (checked: boolean) => void; id?: string }) {
  const labelId = useId();
  return (
    <div class="switch-row">
      <button
        type="button"
        role="switch"
        id={props.id}
        class="switch"
        aria-checked={props.checked}
        aria-labelledby={labelId}
        onClick={() => props.onChange(!props.checked)}
      >
        <span class="switch-thumb" aria-hidden="true" />
      </button>
      <span id={labelId} class="switch-label" onClick={() => props.onChange(!props.checked)}>
        {props.label}
      </span>
    </div>
  );
}

/** The buttons at the foot of a form dialog: Cancel, and the submit that says what it does (and that it is busy). */
export function FormButtons(props: { onCancel: () => void; busy: boolean; label: string; busyLabel: string }) {
  return (
    <div class="buttons">
      <button type="button" class="secondary" onClick={props.onCancel}>
        Cancel
      </button>
      <button type="submit" disabled={props.busy}>
        {props.busy ? props.busyLabel : props.label}
      </button>
    </div>
  );
}

/**
 * What a form field says under it: its error (announced), or else its hint.
 * Ids are `${id}-error` and `${id}-hint`; `describedBy` names the one shown.
 */
export function FieldMessage(props: { id: string; error?: string | undefined; hint?: ComponentChildren }) {
  if (props.error) {
    return (
      <p id={`${props.id}-error`} class="field-error" role="alert">
        {props.error}
      </p>
    );
  }
  return props.hint === undefined ? null : (
    <p id={`${props.id}-hint`} class="muted">
      {props.hint}
    </p>
  );
}

/** The `aria-describedby` of a field with a `FieldMessage`: its error when there is one, else its hint (if it has one). */
export function describedBy(id: string, error: string | undefined, hasHint = true): string | undefined {
  return error ? `${id}-error` : hasHint ? `${id}-hint` : undefined;
}
