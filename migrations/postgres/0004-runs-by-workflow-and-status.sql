-- The runs list filtered by workflow and status at once (the dashboard's usual view on a busy
-- system) reads one index range in order, instead of filtering one of the single-column indexes.
CREATE INDEX runs_by_workflow_status ON runs (workflow, status, created_at DESC, run_id DESC);
