//! Service's storage (issue 19): queues and the book ingest routes feedback with
//! (`queues.rs`), tickets — opened at ingest, by staff or by a journey, moved by staff,
//! swept for breached targets (`tickets.rs`) — the staff roster (`staff.rs`), and the
//! figures per queue (`report.rs`).

pub(crate) mod queues;
mod report;
pub(crate) mod staff;
pub(crate) mod tickets;

pub use queues::{QueueRow, SavedQueue};
pub use report::QueueFigures;
pub use staff::{PutStaff, StaffRow};
pub use tickets::{Moved, REOPENS, TicketNote, TicketQuery, TicketRow};
