-- 0005: the budget guard's timers and kill switch.
-- Run deadlines: armed with a run's first reservation, disarmed by its final
-- settlement, fired once by the sweeper (several guard replicas share the
-- table with FOR UPDATE SKIP LOCKED).
CREATE TABLE deadline_timers (
  run_id      uuid        PRIMARY KEY,
  tenant      text        NOT NULL,
  deadline_at timestamptz NOT NULL
);
CREATE INDEX deadline_timers_due_idx ON deadline_timers (deadline_at);

-- The kill switch: a row per halted scope ('*' = everyone, else a tenant).
CREATE TABLE spending_halts (
  scope      text        PRIMARY KEY,
  reason     text        NOT NULL,
  halted_by  text        NOT NULL,
  since      timestamptz NOT NULL DEFAULT now()
);
