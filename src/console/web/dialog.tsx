import type { ComponentChildren } from 'preact';
import { createPortal } from 'preact/compat';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

import { ApiError } from './api.js';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog: role="dialog" with aria-modal, labelled by its title. Focus
 * moves into it and is kept there (Tab wraps), Escape closes it (when
 * `onEscape` is given), and focus goes back to where it was, or to
 * `returnFocus` when that element is gone. The page behind is inert.
 */
export function Dialog(props: {
  title: string;
  children: ComponentChildren;
  onEscape?: () => void;
  returnFocus?: () => HTMLElement | null;
  describedBy?: string;
  /** A dialog with more to read (the once-shown key and how to connect). */
  wide?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const escape = useRef(props.onEscape);
  escape.current = props.onEscape;
  const returnFocus = useRef(props.returnFocus);
  returnFocus.current = props.returnFocus;

  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const page = document.getElementById('page');
    if (page) page.inert = true;
    const node = ref.current!;
    const first = node.querySelector<HTMLElement>('[data-autofocus]') ?? node.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && escape.current) {
        event.preventDefault();
        escape.current();
      } else if (event.key === 'Tab') {
        const items = [...node.querySelectorAll<HTMLElement>(FOCUSABLE)];
        if (items.length === 0) return;
        const [firstItem, lastItem] = [items[0]!, items[items.length - 1]!];
        if (!node.contains(document.activeElement)) {
          // Focus fell out (a button it was on got disabled): bring it back.
          event.preventDefault();
          (event.shiftKey ? lastItem : firstItem).focus();
        } else if (event.shiftKey && document.activeElement === firstItem) {
          event.preventDefault();
          lastItem.focus();
        } else if (!event.shiftKey && document.activeElement === lastItem) {
          event.preventDefault();
          firstItem.focus();
        }
      }
    };
    // On the document, so keys work even when focus has dropped to <body>.
    document.addEventListener('keydown', onKeyDown);
    return () => {
      document.removeEventListener('keydown', onKeyDown);
      if (page) page.inert = false;
      const target = opener?.isConnected ? opener : returnFocus.current?.();
      target?.focus();
    };
  }, []);

  // Rendered outside #page, which is inert while the dialog is open.
  return createPortal(
    <div class="backdrop">
      <div class={props.wide ? 'dialog wide' : 'dialog'} role="dialog" aria-modal="true" aria-labelledby={titleId} aria-describedby={props.describedBy} ref={ref}>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
      </div>
    </div>,
    document.getElementById('dialogs')!,
  );
}

/**
 * What a dialog's action needs: `busy` while it runs, and a refusal the API
 * explains (403, 404, 409) kept as `problem`, to be said in the dialog;
 * anything else goes to `onError`.
 */
export function useDialogAction(onError: (error: unknown) => void) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiError && [403, 404, 409].includes(error.status)) setProblem(error.message);
      else onError(error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, run };
}

/** Asks before doing something: what it does (`children`, which describe the dialog), Cancel (focused first: the safe choice) and the action. */
export function ConfirmDialog(props: {
  title: string;
  describedBy: string;
  children: ComponentChildren;
  action: string;
  busyAction: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onCancel: () => void;
  onError: (error: unknown) => void;
}) {
  const { busy, problem, run } = useDialogAction(props.onError);
  return (
    <Dialog title={props.title} onEscape={props.onCancel} describedBy={props.describedBy}>
      {props.children}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <div class="buttons">
        <button type="button" class="secondary" onClick={props.onCancel} data-autofocus>
          Cancel
        </button>
        <button type="button" class={props.danger ? 'danger' : undefined} onClick={() => void run(props.onConfirm)} disabled={busy}>
          {busy ? props.busyAction : props.action}
        </button>
      </div>
    </Dialog>
  );
}
