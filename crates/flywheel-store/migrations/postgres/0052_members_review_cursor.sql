-- The stage sweep reads the members due in (next_review_at, id) order, a page after a
-- cursor (`sweep.rs`). Over an index of next_review_at alone PostgreSQL could bound only
-- the instant: it fetched every member due since the start through a bitmap, sorted them
-- and kept a page. A bitmap scan never marks an index entry dead, and in a replay each
-- event that moves a member's review leaves the old entry dead until a vacuum, so each
-- page read thousands of dead rows again (6.5 ms a page, the import's costliest
-- statement: bench/PROFILE.md). With the id in the index the cursor is an index
-- condition, the order is the index's, and the plain index scan marks the dead entries
-- it meets so that later pages skip them. (SQLite's index already ends in the rowid,
-- which is the id.)
CREATE INDEX members_review_cursor ON members (next_review_at, id) WHERE merged_into IS NULL;
DROP INDEX members_review;
ALTER INDEX members_review_cursor RENAME TO members_review;
