//! Service's storage (issue 19): the book ingest reads queues and team templates
//! from (`book.rs`), queues (`queues.rs`), service teams formed around members
//! (`teams.rs`), tickets — opened at ingest, by staff or by a journey, moved by staff,
//! swept for breached targets (`tickets.rs`) — the staff roster (`staff.rs`), and the
//! figures per queue (`report.rs`), each day's care moments (`care.rs`) and the
//! owners of relationships (`owners.rs`), staff's capped gifts of points
//! (`gifts.rs`), and deals on their way from a deposit to delivery (`deals.rs`).

pub(crate) mod book;
mod care;
pub(crate) mod deals;
mod gifts;
mod owners;
pub(crate) mod queues;
mod report;
pub(crate) mod staff;
pub(crate) mod teams;
pub(crate) mod tickets;
pub(crate) mod wecom;

pub use care::CareRow;
pub use deals::DepositFunnels;
pub use gifts::Reserved;
pub use owners::{OwnedMember, OwnerRow};
pub use queues::{QueueRow, SavedQueue};
pub use report::QueueFigures;
pub use staff::{PutStaff, StaffRow};
pub use teams::{TeamNote, TeamPlace, TeamRow, TeamsReport, TemplateRow};
pub use tickets::{Moved, REOPENS, TicketNote, TicketQuery, TicketRow};
pub use wecom::{WecomContactRow, WecomGroupRow};
