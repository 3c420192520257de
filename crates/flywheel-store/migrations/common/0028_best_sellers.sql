-- Best sellers per category (issue 18's `{{recommended.sku}}`): orders of each SKU in
-- the last 90 days, an order counting once per SKU, refreshed at most daily by the
-- engagement runner when some content names a recommendation. A cache of the events,
-- rebuilt whole; `best_sellers_state` says when it was last counted.
CREATE TABLE best_sellers (
    category        TEXT NOT NULL,
    sku             TEXT NOT NULL,
    orders          BIGINT NOT NULL,
    PRIMARY KEY (category, sku)
);

CREATE TABLE best_sellers_state (
    id              INTEGER PRIMARY KEY,
    computed_at     BIGINT NOT NULL,
    window_days     INTEGER NOT NULL
);
