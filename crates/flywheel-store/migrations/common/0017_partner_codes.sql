-- Codes a partner supplies for a benefit (a video-site membership bundled with a tier),
-- each handed out once: `use_id` is the use that took it, NULL while it is in stock.
CREATE TABLE partner_codes (
    benefit         TEXT NOT NULL,
    code            TEXT NOT NULL,
    loaded_at       BIGINT NOT NULL,
    use_id          TEXT,
    member_id       BIGINT,
    issued_at       BIGINT,
    PRIMARY KEY (benefit, code)
);
CREATE INDEX partner_codes_stock ON partner_codes (benefit, use_id);

-- A use of a partner benefit records the partner it is settled with and the code it
-- handed out; the settlement counts them.
ALTER TABLE benefit_uses ADD COLUMN partner TEXT;
ALTER TABLE benefit_uses ADD COLUMN code TEXT;
CREATE INDEX benefit_uses_partner ON benefit_uses (partner, at);
