-- Ingest reads only the identities of unique kinds of the members a batch touches (to
-- spot a second phone), not every identity they hold; indexing by member and kind lets
-- that read go straight to them. The new index also serves every look-up by member
-- alone, so the old one goes.
CREATE INDEX identities_member_kind ON identities (member_id, kind);
DROP INDEX identities_member;
