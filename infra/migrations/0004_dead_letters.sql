-- 0004: the operable dead-letter queue. The budget guard ingests every entry
-- of the DLQ stream (dead letters consumers publish, JetStream's
-- max-deliveries and terminated advisories) into this table; operators list,
-- inspect, redrive and discard them (`keel dlq`). Unlike `events`, rows here
-- are mutable: an entry's status is operator state, not history.
CREATE TABLE dead_letters (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The DLQ stream sequence the entry came from: ingesting it again is a no-op.
  dlq_stream_seq   bigint      NOT NULL CONSTRAINT dead_letters_dlq_stream_seq_unique UNIQUE,
  kind             text        NOT NULL
                   CHECK (kind IN ('dead_letter', 'max_deliveries', 'terminated')),
  -- Where the original message was consumed (unknown parts of an unreadable entry are NULL).
  consumer         text        NOT NULL,
  stream           text,
  subject          text,
  stream_seq       bigint,
  deliveries       int,
  code             text        NOT NULL,
  reason           text        NOT NULL,
  run_id           text,
  trace_id         text,
  -- The original message (NULL when an advisory's original could not be read).
  payload          bytea,
  headers          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  dead_lettered_at timestamptz NOT NULL,
  ingested_at      timestamptz NOT NULL DEFAULT now(),
  status           text        NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'redriven', 'discarded')),
  resolved_at      timestamptz,
  resolved_by      text,
  resolution_note  text,
  redrive_count    int         NOT NULL DEFAULT 0 CHECK (redrive_count >= 0),
  -- Set on the second record of one failure (a consumer's dead letter and the
  -- TERMINATED advisory its `term` caused): that row is discarded at ingestion.
  duplicate_of     bigint      REFERENCES dead_letters (id)
);

-- `keel dlq list`: by status (default open), newest first; by code; by run.
CREATE INDEX dead_letters_status_idx ON dead_letters (status, id DESC);
CREATE INDEX dead_letters_code_idx ON dead_letters (code, status, id DESC);
CREATE INDEX dead_letters_run_idx ON dead_letters (run_id, id DESC) WHERE run_id IS NOT NULL;
-- Ingestion: the other records of the same failed message (duplicate detection).
CREATE INDEX dead_letters_origin_idx ON dead_letters (stream, consumer, stream_seq)
  WHERE stream_seq IS NOT NULL;
