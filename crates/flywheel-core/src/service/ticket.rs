//! A ticket's life: open → responded → resolved, and back to open when reopened. Each
//! move says whether it changes anything, so a retried request answers as the first
//! did instead of failing or writing twice.

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    Open,
    Responded,
    Resolved,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 3] = [
        TicketStatus::Open,
        TicketStatus::Responded,
        TicketStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Responded => "responded",
            TicketStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        TicketStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What staff can do to a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// The first answer to the member.
    Respond,
    /// Closed: the member's complaint is settled.
    Resolve,
    /// The member was not satisfied after all.
    Reopen,
}

impl Move {
    pub fn as_str(self) -> &'static str {
        match self {
            Move::Respond => "respond",
            Move::Resolve => "resolve",
            Move::Reopen => "reopen",
        }
    }

    /// The status after the move from `from`, or None when the move changes nothing
    /// (responding to a ticket already answered, resolving a resolved one, reopening
    /// one still open).
    pub fn apply(self, from: TicketStatus) -> Option<TicketStatus> {
        use TicketStatus::*;
        match (self, from) {
            (Move::Respond, Open) => Some(Responded),
            (Move::Respond, Responded | Resolved) => None,
            (Move::Resolve, Open | Responded) => Some(Resolved),
            (Move::Resolve, Resolved) => None,
            (Move::Reopen, Resolved) => Some(Responded),
            (Move::Reopen, Open | Responded) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_go_forward_and_repeats_change_nothing() {
        use TicketStatus::*;
        assert_eq!(Move::Respond.apply(Open), Some(Responded));
        assert_eq!(Move::Respond.apply(Responded), None);
        assert_eq!(Move::Resolve.apply(Open), Some(Resolved));
        assert_eq!(Move::Resolve.apply(Resolved), None);
        // A reopened ticket was answered once already: its response target stays met.
        assert_eq!(Move::Reopen.apply(Resolved), Some(Responded));
        assert_eq!(Move::Reopen.apply(Open), None);
        for s in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(s));
        }
    }
}
