-- Daily aggregates, so the overview and the monthly charts read a few rows per day
-- instead of scanning the ledger and the transitions (issue 17: the overview at a
-- million members). Both are kept in the transactions that write what they count, and
-- filled here from what is already there. A day is a UTC day, named by its first
-- microsecond.

-- Points posted per programme, day, account type and kind, credits (sign 1) apart from
-- debits (sign -1): what the points report and the liability at any instant add up.
CREATE TABLE points_daily (
    programme TEXT NOT NULL,
    day BIGINT NOT NULL,
    account_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    sign BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (programme, day, account_type, kind, sign)
);
INSERT INTO points_daily (programme, day, account_type, kind, sign, amount)
SELECT programme, at - ((at % 86400000000) + 86400000000) % 86400000000, account_type, kind,
       CASE WHEN amount > 0 THEN 1 ELSE -1 END, CAST(SUM(amount) AS BIGINT)
FROM points_entries WHERE amount <> 0
GROUP BY programme, at - ((at % 86400000000) + 86400000000) % 86400000000, account_type, kind,
         CASE WHEN amount > 0 THEN 1 ELSE -1 END;

-- Stage changes per day, from one stage to another.
CREATE TABLE stage_flows_daily (
    day BIGINT NOT NULL,
    from_stage TEXT NOT NULL,
    to_stage TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, from_stage, to_stage)
);
INSERT INTO stage_flows_daily (day, from_stage, to_stage, n)
SELECT at - ((at % 86400000000) + 86400000000) % 86400000000, from_stage, to_stage, COUNT(*)
FROM stage_transitions
GROUP BY at - ((at % 86400000000) + 86400000000) % 86400000000, from_stage, to_stage;

-- Figures that need a pass over members' whole history (active members, cohort
-- retention), computed at most every few minutes and kept: the last computation of
-- each, when it was made (the server's clock), and the write generation it saw.
CREATE TABLE stats_snapshots (
    name TEXT PRIMARY KEY,
    computed_at BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    body TEXT NOT NULL
);

-- New members of a month, and referrals made or converted in a period, read by range.
CREATE INDEX members_created ON members (created_at) WHERE merged_into IS NULL;
CREATE INDEX referrals_referred_at ON referrals (referred_at);
CREATE INDEX referrals_converted_at ON referrals (converted_at) WHERE converted_at IS NOT NULL;

-- The RFM grid of each score run, counted once when the run has written its scores (the
-- scores change only in runs): (r, f, members) triples as JSON.
ALTER TABLE score_runs ADD COLUMN rfm_cells TEXT;
