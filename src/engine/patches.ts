import { ValidationError, type OpKind } from "../common/index.js";
import type { RunPort } from "./run-port.js";

/**
 * Patching in place (`ctx.patched(id)`, `ctx.deprecatePatch(id)`), with Temporal's semantics.
 * A patch is a marker in the journal: an operation of kind `patch` named by the patch id,
 * journaled as `patch.recorded` at the seq where the code first reached the patch. It has no
 * completion, so replay delivers nothing for it; it only takes its seq.
 */

/** What the journal holds where the code calls `patched(id)` / `deprecatePatch(id)`. */
export interface PatchPoint {
  /** The patch id the code asks about. */
  id: string;
  /** `deprecatePatch`: the marker is accepted and written, but the code does not branch. */
  deprecated: boolean;
  /** What this run answered for the same id before (a patch answers once per run). */
  earlier: boolean | undefined;
  /** The operation the journal has at the next seq, if any. */
  atSeq: { kind: OpKind; name: string } | undefined;
  /** The journal has operations at later seqs (it went past this point). */
  journalGoesPast: boolean;
}

/**
 * `patched`: what the code sees. `consume`: the patch takes the next seq (its marker is there,
 * or is written there now). `append`: write the marker now.
 */
export interface PatchDecision {
  patched: boolean;
  consume: boolean;
  append: boolean;
}

/**
 * The rules, in order:
 * 1. A patch already answered in this run answers the same again, taking no seq.
 * 2. The journal has this patch's marker at the next seq: the run took the patched path before
 *    (true; the marker's seq is taken).
 * 3. The journal has something else at the next seq — another operation, or another patch's
 *    marker: the run went past this point on code without the patch (false; no seq taken, so
 *    the old operation matches the old code path).
 * 4. Nothing at the next seq but operations later (an operation still in flight left a hole):
 *    the run went past this point (false).
 * 5. The journal ends before this point: the run reaches it for the first time on code that has
 *    the patch (true; the marker is written at the next seq).
 * `deprecatePatch` follows the same rules without branching: it takes the seq of a marker that
 * is there (2) or writes one (5), so runs with the marker replay and new runs match older code
 * that still asks `patched(id)`.
 */
export function decidePatch(point: PatchPoint): PatchDecision {
  if (point.earlier !== undefined) return { patched: point.earlier, consume: false, append: false };
  const { atSeq } = point;
  if (atSeq) {
    if (atSeq.kind === "patch" && atSeq.name === point.id)
      return { patched: true, consume: true, append: false };
    return { patched: false, consume: false, append: false };
  }
  if (point.journalGoesPast) return { patched: false, consume: false, append: false };
  return { patched: true, consume: true, append: true };
}

const PATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/**
 * Carries out `patched(id)` / `deprecatePatch(id)` for a run: decides by the journal, takes the
 * seq and journals the marker when the rules say so. `answered` remembers this run's answers.
 */
export function applyPatch(
  run: RunPort,
  answered: Map<string, boolean>,
  id: string,
  deprecated: boolean,
): boolean {
  if (typeof id !== "string" || !PATCH_ID.test(id)) {
    throw new ValidationError(
      "INVALID_ARGUMENT",
      `ctx.${deprecated ? "deprecatePatch" : "patched"} needs a patch id of 1–100 of A–Z a–z 0–9 . _ : - (starting with a letter or digit), got ${JSON.stringify(id)}`,
    );
  }
  const next = run.peekNext();
  const decision = decidePatch({
    id,
    deprecated,
    earlier: answered.get(id),
    atSeq: next.recorded,
    journalGoesPast: next.journalGoesPast,
  });
  if (decision.consume) {
    const created = run.newOp("patch", id);
    if (created) {
      const { op } = created;
      op.settled = true;
      run.forget(op);
      if (decision.append) run.appendOp(op, "recorded", deprecated ? { deprecated: true } : {});
    }
  }
  answered.set(id, decision.patched);
  return decision.patched;
}
