-- ctx.continueAsNew (docs/workflows.md): a run lives in generations. The generation that starts
-- replaces the run's input and journal in the same transaction that ends the one before it; the
-- journal keeps only the current generation (older entries are deleted by that transaction), and
-- journal positions and seqs go on counting, so a stale writer can never match and idempotency
-- keys stay unique within the run.

ALTER TABLE runs ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
