-- Whether a recompute used the lifetime-value models, and if not, why (too few buyers,
-- or a fit that ran to implausible parameters).
ALTER TABLE score_runs ADD COLUMN clv_status TEXT;
ALTER TABLE score_runs ADD COLUMN clv_reason TEXT;
