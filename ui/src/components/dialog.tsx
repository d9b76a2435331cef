import { useEffect, useId, useRef, type FormEvent, type ReactNode } from "react";

/**
 * A modal dialog on the native <dialog>: focus moves into it and stays there, Escape closes
 * it, and focus returns to where it was. The body is a form: Enter submits.
 */
export function Dialog({
  title,
  description,
  children,
  submitLabel,
  submitKind = "primary",
  isBusy = false,
  onSubmit,
  onClose,
}: {
  title: string;
  description?: ReactNode;
  children?: ReactNode;
  submitLabel: string;
  submitKind?: "primary" | "danger";
  isBusy?: boolean;
  onSubmit: () => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // Two dialogs can be open at once (the token prompt over an action's): ids of their own.
  const titleId = useId();
  const onCloseRef = useRef(onClose);
  useEffect(() => {
    onCloseRef.current = onClose;
  });

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return undefined;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
    // Escape fires `cancel`; the parent decides whether the dialog goes away.
    const onCancel = (event: Event): void => {
      event.preventDefault();
      onCloseRef.current();
    };
    dialog.addEventListener("cancel", onCancel);
    return () => {
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      opener?.focus();
    };
  }, []);

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (!isBusy) onSubmit();
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={titleId}>
      <form onSubmit={submit} noValidate>
        <h2 id={titleId} className="dialog-title">
          {title}
        </h2>
        {description && <div className="dialog-description">{description}</div>}
        {children}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className={`button button-${submitKind}`}
            disabled={isBusy}
            aria-busy={isBusy}
          >
            {isBusy ? "Working…" : submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
