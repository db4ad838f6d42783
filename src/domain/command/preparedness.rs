//! Conversions of unused capacity into preparedness services (Art. 14(2))
//! and the record of a usage report's transmission (Art. 16(11)-(12)).

use chrono::{DateTime, Utc};

use super::{Parsed, finish};
use crate::domain::command::dispatch::{DELIVERY_NOTE, SHORT_TEXT};
use crate::domain::names::{CommitmentId, ConversionId, OrganisationId, UsageReportId};
use crate::domain::preparedness::PreparednessService;
use crate::domain::validation::{Choice, Count, Instant, Violations};

/// Most person-days one conversion moves.
pub const MAX_PERSON_DAYS: u32 = 100_000;
/// A description of the preparedness service.
pub const DESCRIPTION: std::ops::RangeInclusive<usize> = 1..=2_000;
/// Whom a report went to.
pub const RECIPIENT: std::ops::RangeInclusive<usize> = 1..=256;

/// ProposeConversion as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProposeConversionFields {
    /// `providers/{provider}/capacityCommitments/{number}`.
    pub capacity_commitment: String,
    /// `organisations/{id}`: the user the service is for.
    pub organisation: String,
    pub preparedness_service: Choice<PreparednessService>,
    pub person_days: Count,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProposeConversion {
    pub commitment: CommitmentId,
    pub organisation: OrganisationId,
    pub preparedness_service: PreparednessService,
    pub person_days: u32,
    pub description: String,
    parsed: Parsed,
}

impl ProposeConversion {
    pub fn parse(f: &ProposeConversionFields) -> Result<ProposeConversion, Violations> {
        let mut v = Violations::new();
        let commitment = CommitmentId::parse_name(
            &mut v,
            "conversion.capacity_commitment",
            &f.capacity_commitment,
        );
        let organisation =
            OrganisationId::parse_name(&mut v, "conversion.organisation", &f.organisation);
        let preparedness_service =
            v.choice("conversion.preparedness_service", &f.preparedness_service);
        let person_days = v.count(
            "conversion.person_days",
            &f.person_days,
            1..=MAX_PERSON_DAYS,
        );
        let description = v.text("conversion.description", &f.description, DESCRIPTION);
        finish(v, || {
            Some(ProposeConversion {
                commitment: commitment?,
                organisation: organisation?,
                preparedness_service: preparedness_service?,
                person_days: person_days?,
                description,
                parsed: Parsed,
            })
        })
    }
}

/// DeclineConversion as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclineConversionFields {
    pub name: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeclineConversion {
    pub conversion: ConversionId,
    pub note: String,
    parsed: Parsed,
}

impl DeclineConversion {
    pub fn parse(f: &DeclineConversionFields) -> Result<DeclineConversion, Violations> {
        let mut v = Violations::new();
        let conversion = ConversionId::parse_name(&mut v, "name", &f.name);
        let note = v.text("note", &f.note, SHORT_TEXT);
        finish(v, || {
            Some(DeclineConversion {
                conversion: conversion?,
                note,
                parsed: Parsed,
            })
        })
    }
}

/// CompleteConversion as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompleteConversionFields {
    pub name: String,
    pub delivery_note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompleteConversion {
    pub conversion: ConversionId,
    pub delivery_note: String,
    parsed: Parsed,
}

impl CompleteConversion {
    pub fn parse(f: &CompleteConversionFields) -> Result<CompleteConversion, Violations> {
        let mut v = Violations::new();
        let conversion = ConversionId::parse_name(&mut v, "name", &f.name);
        let delivery_note = v.text("delivery_note", &f.delivery_note, DELIVERY_NOTE);
        finish(v, || {
            Some(CompleteConversion {
                conversion: conversion?,
                delivery_note,
                parsed: Parsed,
            })
        })
    }
}

/// TransmitUsageReport as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransmitReportFields {
    pub name: String,
    pub recipient: String,
    /// When it was sent; unset: now.
    pub transmit_time: Instant,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransmitReport {
    pub report: UsageReportId,
    pub recipient: String,
    pub at: DateTime<Utc>,
    pub note: String,
    parsed: Parsed,
}

impl TransmitReport {
    pub fn parse(
        f: &TransmitReportFields,
        now: DateTime<Utc>,
    ) -> Result<TransmitReport, Violations> {
        let mut v = Violations::new();
        let report = UsageReportId::parse_name(&mut v, "name", &f.name);
        let recipient = v.text("recipient", &f.recipient, RECIPIENT);
        let at = match f.transmit_time {
            Instant::Unset => Some(now),
            ref t => v.instant("transmit_time", t),
        };
        if let Some(at) = at {
            v.past_time("transmit_time", at, now);
        }
        let note = v.text("note", &f.note, SHORT_TEXT);
        finish(v, || {
            Some(TransmitReport {
                report: report?,
                recipient,
                at: at?,
                note,
                parsed: Parsed,
            })
        })
    }
}
