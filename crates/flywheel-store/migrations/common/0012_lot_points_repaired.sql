-- Points joining a live lot (same expiry, no order) raised its `points` in memory, but
-- the write of an existing lot left the column as it was, so a lot could show fewer
-- points than it has left. What joined is not recorded anywhere else (lot moves are
-- kept for redemptions only), so the repair is the least the lot must have held: what
-- it has left. Exact for every lot nothing was spent from since.
UPDATE points_lots SET points = remaining WHERE points < remaining;
