-- 0009: the relay no longer listens. Every writer publishes each event it
-- commits right after the commit (the fast path), so the relay is the
-- recovery path: it polls, and re-sends only what JetStream does not hold
-- after a grace period (docs/design/event-log.md). The statement trigger's
-- pg_notify cost every append about a fifth of its PostgreSQL CPU.
DROP TRIGGER IF EXISTS events_notify ON events;
DROP FUNCTION IF EXISTS keel_events_notify();
