-- 0002: find a run's events without scanning the log. Every event's
-- metadata carries its run (correlationId); the tool executor looks up a
-- run's earlier tool calls (read cache, retry budget, compensations) and
-- operators list a run's timeline across all its streams.
CREATE INDEX events_run_idx ON events ((metadata->>'correlationId'), type);
