-- A coupon reward (issue 20): redeeming it for points issues a code of this coupon.
ALTER TABLE rewards ADD COLUMN coupon_id TEXT;
