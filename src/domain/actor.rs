//! Who is calling: the verified claims of a token, as the use cases see them.

use super::codes::code_enum;

code_enum!(
    /// The roles of DESIGN.md; a token carries exactly one.
    Role {
        Requester = "requester",
        DutyOfficer = "duty_officer",
        Commission = "commission",
        Provider = "provider",
        Admin = "admin",
        Auditor = "auditor",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person (`sub`).
    pub subject: String,
    pub role: Role,
    /// The organisation or provider id (`org`).
    pub organisation: String,
}

impl Actor {
    /// The actor of changes the service makes by itself (timers, seeding).
    pub fn system(subject: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            role: Role::Admin,
            organisation: "reserve".to_owned(),
        }
    }
}
