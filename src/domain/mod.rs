//! Pure domain types: they parse, they know their states and transitions.
//! No gRPC, database or runtime types live here.

pub mod actor;
pub mod audit;
pub mod checkpoint;
pub mod codes;
pub mod command;
pub mod dispatch;
pub mod eligibility;
pub mod matching;
pub mod merkle;
pub mod names;
pub mod notify;
pub mod preparedness;
pub mod priority;
pub mod query;
pub mod registry;
pub mod request;
pub mod usage;
pub mod validation;
