-- Give-one-get-one (issue 20): a gifted code is held for the friend who redeems it. It
-- keeps the giver here; its member_id becomes the friend's at redemption.
ALTER TABLE coupon_codes ADD COLUMN gift_from BIGINT;
