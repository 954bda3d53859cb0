-- 0003: the key-value store of the built-in kv_get / kv_put tools. Keel-owned
-- state a tool writes (a `write` tool): per tenant, one JSON value per key.
CREATE TABLE kv (
  tenant     text        NOT NULL,
  key        text        NOT NULL,
  value      jsonb       NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, key)
);
