-- Referral farming (issue 20): each referral keeps its invitee's hashed signals, and a
-- conversion that looks farmed is held with the reason until a person decides.
ALTER TABLE referrals ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE referrals ADD COLUMN hold_reason TEXT;
CREATE INDEX referrals_status ON referrals (status, referred_at);
