-- 0001: the event log, the consumer inbox and relay checkpoints.
-- Runs with search_path set to the target schema (see migrate.ts); every name
-- here is unqualified so each deployment or test lives in its own schema.

-- The append-only log: the source of truth. global_position is the insert
-- order; transaction_id (xid8) is what readers order by so that a
-- late-committing transaction is never skipped (see read-all.ts).
CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  event_id        uuid        NOT NULL CONSTRAINT events_event_id_unique UNIQUE,
  stream_id       text        NOT NULL,
  stream_version  int         NOT NULL CHECK (stream_version >= 1),
  type            text        NOT NULL,
  schema_version  int         NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order_idx ON events (transaction_id, global_position);

-- Append-only, enforced by the database: no code path may rewrite history.
CREATE FUNCTION keel_events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'keel events are append-only: % on %.% is not allowed',
    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation',
          HINT = 'record a compensating event instead';
END;
$$;

CREATE TRIGGER events_no_update_delete
  BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION keel_events_reject_change();

CREATE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION keel_events_reject_change();

-- Wake-up hint for the relay (delivered on commit, deduplicated per
-- transaction). Only a hint: the relay also polls, and reads by checkpoint.
CREATE FUNCTION keel_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keel_events', TG_TABLE_SCHEMA);
  RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
  AFTER INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION keel_events_notify();

-- Messages a consumer has handled; written in the handler's transaction so
-- a redelivered message is recognised and skipped.
CREATE TABLE inbox (
  consumer     text        NOT NULL,
  message_id   text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);

-- Readers' positions in commit order: (transaction_id, global_position).
CREATE TABLE checkpoints (
  name            text        PRIMARY KEY,
  transaction_id  xid8        NOT NULL,
  global_position bigint      NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
