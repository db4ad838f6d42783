//! sea-orm entities, one per table of `migrations/`.

pub mod audit_event;
pub mod audit_head;
pub mod audit_pending;
pub mod capacity_commitment;
pub mod capacity_entry;
pub mod console_session;
pub mod conversion;
pub mod council_act;
pub mod country;
pub mod dispatch_line;
pub mod offer;
pub mod organisation;
pub mod provider;
pub mod reference_counter;
pub mod registry_version;
pub mod support_request;
pub mod timer;
pub mod usage_report;
