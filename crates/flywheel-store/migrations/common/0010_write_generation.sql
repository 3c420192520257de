-- A counter every write transaction advances as it commits (`WriteTx` in db.rs). A
-- writer that keeps rows in memory between transactions (the ingest member cache)
-- trusts them only while the counter stands where its own last commit left it: any
-- other commit, from this process or another, moves it on.
CREATE TABLE write_generation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT NOT NULL
);
INSERT INTO write_generation (id, n) VALUES (1, 0);
