-- The live/stored fence. Every write transaction ends by taking the next number from this one row
-- (UPDATE … RETURNING), and the row lock makes the next writer wait until this one has committed:
-- transactions are numbered in commit order. A query reads the row in its own snapshot, so an
-- event numbered at or below what it read was visible to the query and one numbered above was
-- not, on the primary and on every replica, however late the bus delivers the event.
CREATE TABLE commit_position (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint  NOT NULL
);
INSERT INTO commit_position (seq) VALUES (0);
ANALYZE commit_position;   -- one row: lets the planner drop a Materialize above each query
