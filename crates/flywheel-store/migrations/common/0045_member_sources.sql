-- What brought each member (issue 21): the kind and name of the source their first
-- event named, copied out of the facts so the report by source is one GROUP BY.
-- Members from before this migration have none until their facts are written again.
ALTER TABLE members ADD COLUMN source_kind TEXT;
ALTER TABLE members ADD COLUMN source_name TEXT;
