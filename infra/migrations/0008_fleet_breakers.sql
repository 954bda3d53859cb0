-- 0008: the budget guard's fleet-wide circuit breakers and the kill switch's paused runs.

-- One row per dependency (`model:<provider>`, `tool:<breaker key>`): the state
-- derived from every replica's outcome events. Guard replicas serialise on the
-- row (SELECT ... FOR UPDATE); the NATS KV bucket <PREFIX>_BREAKERS is its
-- published copy, and each transition is also an event on `budget:breaker:<name>`.
CREATE TABLE fleet_breakers (
  name         text        PRIMARY KEY,
  state        text        NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
  since        timestamptz NOT NULL,
  reason       text        NOT NULL DEFAULT '',
  failures     integer     NOT NULL DEFAULT 0,
  -- The run whose outcome last changed the row (transition events carry it).
  last_run_id  uuid,
  last_tenant  text
);
CREATE INDEX fleet_breakers_open_idx ON fleet_breakers (since) WHERE state = 'open';

-- Runs that asked to spend while the kill switch was on: the guard records
-- them when it answers `halted` and, on release, appends `SpendingResumed`
-- to each one's budget stream so the planner picks it up again. Nothing waits
-- in a redelivery loop, so a halt may last as long as it needs to.
CREATE TABLE paused_runs (
  run_id     uuid        PRIMARY KEY,
  tenant     text        NOT NULL,
  scope      text        NOT NULL,
  paused_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paused_runs_scope_idx ON paused_runs (scope);
