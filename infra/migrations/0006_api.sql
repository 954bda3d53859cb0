-- 0006: the HTTP API (apps/api): tenants' API keys, the runs it accepted,
-- and the run read model it projects from the event log. Unlike `events`,
-- every table here is derived or operator state: `run_summaries` and
-- `projection_positions` can be truncated and rebuilt from the log at any
-- time (`keel projections rebuild`).

-- Bearer keys, stored as sha-256 of the whole key (the key is 256 random bits,
-- so a fast hash is enough: see docs/api.md). `key_id` is the public part of
-- the key, used to find the row; the secret is never stored.
CREATE TABLE api_keys (
  key_id      text        PRIMARY KEY,
  key_hash    bytea       NOT NULL,
  tenant      text        NOT NULL,
  -- `admin` keys may read every tenant's runs and the whole DLQ.
  role        text        NOT NULL DEFAULT 'tenant' CHECK (role IN ('tenant', 'admin')),
  name        text        NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- Runs submitted through POST /runs: the Idempotency-Key's record (the same
-- key with another body is refused) and what lets GET /runs/:id answer
-- `submitted` before the planner has recorded the run.
CREATE TABLE api_run_submissions (
  tenant       text        NOT NULL,
  request_id   text        NOT NULL,
  run_id       uuid        NOT NULL UNIQUE,
  body_sha256  text        NOT NULL,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, request_id)
);

-- One row per run, folded from every stream of the run (libs/projections).
CREATE TABLE run_summaries (
  run_id            uuid        PRIMARY KEY,
  tenant            text        NOT NULL,
  request_id        text,
  status            text        NOT NULL,
  review_step       int,
  steps             int         NOT NULL,
  model_calls       int         NOT NULL,
  tool_calls        int         NOT NULL,
  tool_calls_failed int         NOT NULL,
  pending_tool_calls int        NOT NULL,
  tokens_in         bigint      NOT NULL,
  tokens_out        bigint      NOT NULL,
  cost_micros       bigint      NOT NULL,
  answer            text,
  reason_code       text,
  reason_message    text,
  labels            jsonb,
  created_at        timestamptz,
  ended_at          timestamptz,
  updated_at        timestamptz NOT NULL
);

-- GET /runs: a tenant's runs, newest first, keyset-paged on (created_at, run_id).
CREATE INDEX run_summaries_tenant_idx ON run_summaries (tenant, created_at DESC, run_id DESC);
CREATE INDEX run_summaries_status_idx ON run_summaries (tenant, status, created_at DESC, run_id DESC);
CREATE INDEX run_summaries_created_idx ON run_summaries (created_at DESC, run_id DESC);

-- The projector's checkpoint: the last version of each stream applied to
-- `run_summaries`, updated in the same transaction as the rows.
CREATE TABLE projection_positions (
  stream_id text PRIMARY KEY,
  run_id    uuid NOT NULL,
  version   int  NOT NULL CHECK (version >= 1)
);
