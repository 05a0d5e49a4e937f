import type { ComponentChildren, RefObject } from 'preact';
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

/** What went wrong (an alert), or what just happened (a status). */
export function Messages(props: { problem: string | undefined; notice: string | undefined }) {
  return (
    <>
      {props.problem && (
        <p class="error" role="alert">
          {props.problem}
        </p>
      )}
      {props.notice && (
        <p class="success" role="status">
          {props.notice}
        </p>
      )}
    </>
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

/**
 * A labelled one-line text field with its hint or error under it (see
 * FieldMessage); `autofocus` makes it the first thing a dialog focuses.
 */
export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  error: string | undefined;
  hint: string;
  maxLength: number;
  placeholder?: string;
  inputRef?: RefObject<HTMLInputElement>;
  autofocus?: boolean;
  url?: boolean;
}) {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        ref={props.inputRef}
        data-autofocus={props.autofocus ? true : undefined}
        inputMode={props.url ? 'url' : undefined}
        autoComplete={props.url ? 'off' : undefined}
        spellcheck={props.url ? false : undefined}
        value={props.value}
        maxLength={props.maxLength}
        placeholder={props.placeholder}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy(props.id, props.error)}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
      <FieldMessage id={props.id} error={props.error} hint={props.hint} />
    </>
  );
}

/** One thing a form offers to tick: its value, its label, and what it means (read out with it). */
export interface Choice<T extends string> {
  value: T;
  label: string;
  description?: string;
}

/**
 * A checkbox per choice, each labelled and described by its words. Ids are
 * `${idPrefix}-${value}` (and `-description`), so a test or a label finds them.
 */
export function CheckboxList<T extends string>(props: { idPrefix: string; choices: Choice<T>[]; chosen: T[]; onChange: (chosen: T[]) => void }) {
  return (
    <>
      {props.choices.map((choice) => {
        const id = `${props.idPrefix}-${choice.value}`;
        return (
          <div class="check" key={choice.value}>
            <input
              type="checkbox"
              id={id}
              checked={props.chosen.includes(choice.value)}
              onChange={(event) =>
                props.onChange((event.currentTarget as HTMLInputElement).checked ? [...props.chosen, choice.value] : props.chosen.filter((item) => item !== choice.value))
              }
              aria-describedby={choice.description ? `${id}-description` : undefined}
            />
            <div>
              <label for={id}>{choice.label}</label>
              {choice.description && (
                <p id={`${id}-description`} class="muted">
                  {choice.description}
                </p>
              )}
            </div>
          </div>
        );
      })}
    </>
  );
}

/**
 * "Every one" or "Only these": two radios, and under the second a checkbox
 * per choice. `chosen` is null for every one; the ticks are kept while
 * "Every one" is on, so switching back and forth loses nothing.
 */
export function EveryOrOnly<T extends string>(props: {
  id: string;
  legend: string;
  every: string;
  only: string;
  choices: Choice<T>[];
  chosen: T[] | null;
  onChange: (chosen: T[] | null) => void;
  error?: string | undefined;
  hint?: ComponentChildren;
}) {
  const [ticked, setTicked] = useState<T[]>(props.chosen ?? []);
  const tick = (next: T[]) => (setTicked(next), props.onChange(next));
  return (
    <fieldset aria-describedby={describedBy(props.id, props.error, props.hint !== undefined)}>
      <legend>{props.legend}</legend>
      <div class="check">
        <input type="radio" name={props.id} id={`${props.id}-every`} checked={props.chosen === null} onChange={() => props.onChange(null)} />
        <label for={`${props.id}-every`}>{props.every}</label>
      </div>
      <div class="check">
        <input type="radio" name={props.id} id={`${props.id}-only`} checked={props.chosen !== null} onChange={() => props.onChange(ticked)} />
        <label for={`${props.id}-only`}>{props.only}</label>
      </div>
      {props.chosen !== null && (
        <div class="indent" role="group" aria-label={props.only}>
          <CheckboxList idPrefix={props.id} choices={props.choices} chosen={props.chosen} onChange={tick} />
        </div>
      )}
      <FieldMessage id={props.id} error={props.error} hint={props.hint} />
    </fieldset>
  );
}
