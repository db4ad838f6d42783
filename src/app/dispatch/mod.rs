//! Dispatch, split by what it does:
//!
//! - `plan`: the ranked candidates of each granted line, and the duty
//!   officer's approval of a plan (each line offered to its first provider
//!   with free capacity);
//! - `offers`: offers and their answers (accept, decline, expiry,
//!   withdrawal), the capacity they hold, and re-matching waiting requests
//!   when capacity frees;
//! - `delivery`: the specific agreement, completion, the summary report and
//!   closing.

mod delivery;
mod offers;
mod plan;

pub use delivery::{close, complete, record_agreement, submit_report};
pub use offers::{OfferView, accept, decline, list_for_provider, request_of_offer};
pub(crate) use offers::{
    end_support, expire, follow_council_acts, rematch_after, rematch_all, withdraw_offers,
};
pub use plan::{LineProposal, approve, propose};

use crate::domain::matching::Demand;
use crate::domain::registry::Country;
use crate::domain::request::SupportRequest;

pub fn offer_name(id: &str) -> String {
    crate::domain::names::offer(id)
}

/// What granted line `line` of `request` asks of a provider.
fn demand<'a>(request: &'a SupportRequest, line: usize, country: &'a Country) -> Demand<'a> {
    Demand::of_line(request, line, country)
}

fn country_of<'a>(
    registry: &'a crate::store::registry::Snapshot,
    request: &SupportRequest,
) -> super::AppResult<&'a Country> {
    registry.country(&request.country).ok_or_else(|| {
        super::AppError::FailedPrecondition("the requesting country is not registered".into())
    })
}
