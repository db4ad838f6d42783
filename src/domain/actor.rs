//! Who is calling: the verified claims of a token, as the use cases see them,
//! and what each role may do at all.

use super::codes::code_enum;

code_enum!(
    /// The roles of DESIGN.md; a token carries exactly one. `service` is the
    /// service itself (its timers, its re-matching, the steps it takes when
    /// every line has moved on): no token may carry it.
    Role {
        Requester = "requester",
        DutyOfficer = "duty_officer",
        Commission = "commission",
        Provider = "provider",
        Admin = "admin",
        Auditor = "auditor",
        Service = "service",
    }
);

impl Role {
    /// The role a token names, if it is one a token may carry.
    pub fn of_token(claim: &str) -> Option<Role> {
        claim.parse().ok().filter(|role| *role != Role::Service)
    }
}

/// What a caller asks to do, as far as its role decides it (DESIGN.md, "Who
/// uses it"). Checked before anything the caller sent is read (AIP-211), so
/// that a role that may never do something is told so whatever it sent; which
/// objects it may do it to is the use case's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create, edit, submit and withdraw requests; file the summary report.
    FileRequests,
    /// Transmit a request waiting for its country's single point of contact,
    /// or return it to its filer (the contact point's staff, Art. 15(3)).
    Transmit,
    /// Read requests (their list, one, its page).
    ReadRequests,
    /// The assessment queue; authorise, reject, ask for information.
    Decide,
    /// Matches, the dispatch plan, closing.
    Dispatch,
    /// Usage reports.
    ReportUsage,
    /// Offers and assignments: list, accept, decline, the agreement, completion.
    Deliver,
    /// Create and update countries, organisations, providers and capacity.
    WriteRegistry,
    /// Read countries, organisations and providers.
    ReadRegistry,
    /// Read capacity commitments.
    ReadCapacity,
    /// Capacity left unused at the end of its period.
    ReadUnusedCapacity,
    /// List the audit trail.
    ListEvents,
    /// Watch the events one may see.
    WatchEvents,
    /// Verify the audit chain.
    VerifyChain,
    /// The audit log's checkpoints and consistency proofs, and inclusion
    /// proofs of the events one may see.
    ProveLog,
    /// Subscribe one's organisation (or oneself) to the events one may see.
    Subscribe,
    /// The notifications' outbox and its dead letters.
    ReadOutbox,
    /// Propose converting unused capacity into a preparedness service, or
    /// withdraw the proposal (Art. 14(2)).
    ConvertCapacity,
    /// Accept or decline a conversion proposed to one's provider; record
    /// its delivery.
    DeliverConversion,
    /// Read conversions (each role those it should see).
    ReadConversions,
    /// Record that a usage report was transmitted to its audience.
    TransmitReport,
}

impl Operation {
    /// The roles that may do it.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Operation::FileRequests => &[Requester],
            Operation::Transmit => &[Requester],
            Operation::ReadRequests => &[Requester, DutyOfficer, Commission, Auditor],
            Operation::Decide => &[DutyOfficer, Commission],
            Operation::Dispatch => &[DutyOfficer],
            Operation::ReportUsage => &[DutyOfficer, Auditor, Commission],
            Operation::Deliver => &[Provider],
            // The service writes the demo registry when asked to (`seed`).
            Operation::WriteRegistry => &[Admin, Service],
            Operation::ReadRegistry => {
                &[Requester, DutyOfficer, Commission, Provider, Admin, Auditor]
            }
            Operation::ReadCapacity => &[Admin, DutyOfficer, Auditor, Provider],
            Operation::ReadUnusedCapacity => &[Admin, DutyOfficer, Auditor],
            Operation::ListEvents => &[Auditor, DutyOfficer],
            Operation::WatchEvents => {
                &[Requester, DutyOfficer, Commission, Provider, Admin, Auditor]
            }
            // Duty officers and administrators too (docs/RELIABILITY.md).
            Operation::VerifyChain => &[Auditor, DutyOfficer, Admin],
            Operation::ProveLog => &[Requester, DutyOfficer, Commission, Provider, Admin, Auditor],
            Operation::Subscribe => &[Requester, DutyOfficer, Commission, Provider, Admin, Auditor],
            Operation::ReadOutbox => &[Admin],
            Operation::ConvertCapacity => &[DutyOfficer],
            Operation::DeliverConversion => &[Provider],
            Operation::ReadConversions => {
                &[Requester, DutyOfficer, Commission, Provider, Admin, Auditor]
            }
            Operation::TransmitReport => &[DutyOfficer, Commission],
        }
    }
}

/// A role refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the role `{0}` may not do this")]
pub struct Denied(pub Role);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person (`sub`).
    pub subject: String,
    pub role: Role,
    /// The organisation or provider id (`org`).
    pub organisation: String,
}

/// The organisation the service's own actor carries.
pub const SERVICE_ORGANISATION: &str = "system";

impl Actor {
    /// The service itself, for the changes it makes by itself: `part` names
    /// which part of it (`timer`, `matcher`, `dispatch`, `seed`).
    pub fn service(part: &str) -> Self {
        Self {
            subject: part.to_owned(),
            role: Role::Service,
            organisation: SERVICE_ORGANISATION.to_owned(),
        }
    }

    /// Refuses an operation the actor's role may never do.
    pub fn permit(&self, operation: Operation) -> Result<(), Denied> {
        if operation.roles().contains(&self.role) {
            Ok(())
        } else {
            Err(Denied(self.role))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_is_the_service() {
        assert_eq!(Role::of_token("admin"), Some(Role::Admin));
        assert_eq!(Role::of_token("service"), None);
        assert_eq!(Role::of_token("root"), None);
    }

    #[test]
    fn the_service_writes_nothing_but_the_demo_registry() {
        let service = Actor::service("timer");
        assert!(service.permit(Operation::WriteRegistry).is_ok());
        for op in [
            Operation::FileRequests,
            Operation::Decide,
            Operation::Dispatch,
            Operation::Deliver,
            Operation::ReadRequests,
            Operation::WatchEvents,
        ] {
            assert_eq!(service.permit(op), Err(Denied(Role::Service)), "{op:?}");
        }
    }
}
