-- Member scores from the last recompute: RFM and lifetime value need the whole
-- population, so they are computed by a job (and on demand) and kept here with the
-- member-local scores of the same instant, for listing and export.
CREATE TABLE member_scores (
    member_id           BIGINT PRIMARY KEY,
    computed_at         BIGINT NOT NULL,
    -- RFM; NULL for members without a purchase.
    recency_days        BIGINT,
    frequency           BIGINT,
    monetary            BIGINT,
    r                   BIGINT,
    f                   BIGINT,
    m                   BIGINT,
    cell                TEXT,
    -- Lifetime value over the configured horizon; NULL without a purchase. Fractions
    -- are kept as whole millionths (sqlx's Any driver cannot bind a typed NULL float).
    p_alive_millionths  BIGINT,
    expected_purchases_millionths BIGINT,
    expected_value      BIGINT,
    super_user          DOUBLE PRECISION NOT NULL,
    paid_member         BIGINT NOT NULL,
    influence           DOUBLE PRECISION NOT NULL,
    intimacy            DOUBLE PRECISION NOT NULL
);
CREATE INDEX member_scores_super_user ON member_scores (paid_member, super_user);

CREATE TABLE score_runs (
    started_at      BIGINT PRIMARY KEY,
    finished_at     BIGINT NOT NULL,
    members         BIGINT NOT NULL,
    rfm_members     BIGINT NOT NULL,
    clv_members     BIGINT NOT NULL,
    model           TEXT NOT NULL
);
