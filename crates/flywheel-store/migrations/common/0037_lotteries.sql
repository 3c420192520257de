-- The points lottery (issue 20): each lottery with its prize table's current version,
-- every version kept (a draw names the one it was drawn under), the prizes' stock left,
-- and every draw with the random number it drew, so each can be checked again.
CREATE TABLE lotteries (
    id                  TEXT PRIMARY KEY,
    definition          TEXT NOT NULL,
    version             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);

CREATE TABLE lottery_versions (
    lottery_id          TEXT NOT NULL,
    version             BIGINT NOT NULL,
    definition          TEXT NOT NULL,
    saved_at            BIGINT NOT NULL,
    PRIMARY KEY (lottery_id, version)
);

CREATE TABLE lottery_stock (
    lottery_id          TEXT NOT NULL,
    prize_id            TEXT NOT NULL,
    remaining           BIGINT NOT NULL,
    PRIMARY KEY (lottery_id, prize_id)
);

CREATE TABLE lottery_draws (
    id                  TEXT PRIMARY KEY,
    lottery_id          TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    draw_key            TEXT NOT NULL UNIQUE,
    day                 BIGINT NOT NULL,
    number              BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    prize_id            TEXT,
    outcome             TEXT NOT NULL,
    cost_points         BIGINT NOT NULL,
    at                  BIGINT NOT NULL
);
CREATE INDEX lottery_draws_member ON lottery_draws (lottery_id, member_id, day);
