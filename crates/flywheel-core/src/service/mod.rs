//! Service (issue 19): feedback and complaints as tickets routed to the team that owns
//! them, answered against targets counted in that team's working hours.
//!
//! `hours.rs` is the working-hours clock, `queue.rs` routes a category to a queue and
//! sets a ticket's targets, `ticket.rs` says which moves a ticket may make, `team.rs`
//! reads service-team templates and picks who joins a member's team, `care.rs` finds
//! the days to reach out to a member and says why, `deposit.rs` follows a deal from its
//! deposits to its delivery. Storage and
//! the sweep that flags breaches live in the store; nothing here does I/O.

pub mod care;
pub mod deposit;
pub mod hours;
pub mod queue;
pub mod team;
pub mod ticket;

pub use hours::WorkingHours;
pub use queue::{Queue, Targets, route};
pub use ticket::{Move, TicketStatus};
