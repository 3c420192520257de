-- KPI targets per stage of the programme (seed 001): a metric's target for a calendar
-- month (`2026-11`), and the stage of the programme it belongs to (recruiting, …).
CREATE TABLE kpi_targets (
    metric TEXT NOT NULL,
    month TEXT NOT NULL,
    phase TEXT NOT NULL,
    target BIGINT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (metric, month)
);
