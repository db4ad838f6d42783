//! The administrators' registry: countries with their Council implementing
//! acts and capability information, organisations and providers; a
//! country's edit form goes through the API's `UpdateCountry` command.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::forms::Refusal;
use super::pages::Nav;
use super::session::{Posted, User};
use super::{PageError, Shared, render};
use crate::app::{AppError, MAX_PAGE_SIZE, Page, PageRequest, registry};
use crate::domain::actor::Operation;
use crate::domain::command::UpdateFields;
use crate::domain::command::registry::{CouncilActFields, CountryFields};
use crate::domain::names::CountryCode;
use crate::domain::registry::Country;
use crate::domain::validation::{Count, Violations};

/// Most Council acts a country's form holds: the domain's limit.
const MAX_ACTS: usize = crate::domain::command::registry::COUNCIL_ACTS;

pub struct CountryRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub acts: String,
    pub contact_point: String,
    pub capability: String,
}

pub struct NamedRow {
    pub id: String,
    pub name: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/registry.html")]
struct RegistryPage {
    nav: Nav,
    countries: Vec<CountryRow>,
    organisations: Vec<NamedRow>,
    providers: Vec<NamedRow>,
    /// The kinds of organisation, for the new organisation's form.
    kinds: Vec<(&'static str, String)>,
    /// The services, for the new commitment's form.
    services: Vec<(&'static str, String)>,
}

/// Every page of a list (the registry is small: tens of rows).
async fn all<T, F, Fut>(mut read: F) -> Result<Vec<T>, PageError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, AppError>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = read(PageRequest {
            size: MAX_PAGE_SIZE,
            after,
        })
        .await?;
        let done = page.next_page_token.is_empty();
        let token = page.next_page_token;
        items.extend(page.items);
        if done {
            return Ok(items);
        }
        after = PageRequest::parse(0, &token)?.after;
    }
}

fn day(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub async fn overview(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    let app = &console.app;
    let actor = &user.actor;
    let countries = all(|p| registry::list_countries(app, actor, p)).await?;
    let organisations = all(|p| registry::list_organisations(app, actor, p)).await?;
    let providers = all(|p| registry::list_providers(app, actor, p)).await?;
    Ok(render(&RegistryPage {
        nav: Nav::new(&user, "/registry"),
        countries: countries
            .iter()
            .map(|c| CountryRow {
                code: c.code.clone(),
                name: c.display_name.clone(),
                kind: super::format::words(c.kind.as_str()),
                acts: c
                    .council_acts
                    .iter()
                    .map(|a| format!("{} ({} to {})", a.reference, a.valid_from, a.last_day()))
                    .collect::<Vec<_>>()
                    .join("; "),
                contact_point: c.single_point_of_contact.clone().unwrap_or_default(),
                capability: match (c.capability_info_received, c.capability_info_updated) {
                    (None, _) => String::new(),
                    (received, updated) => {
                        format!("received {}, updated {}", day(received), day(updated))
                    }
                },
            })
            .collect(),
        organisations: organisations
            .iter()
            .map(|o| NamedRow {
                id: o.id.clone(),
                name: o.display_name.clone(),
                detail: format!("{}, {}", super::format::words(o.kind.as_str()), o.country),
            })
            .collect(),
        providers: providers
            .iter()
            .map(|p| NamedRow {
                id: p.id.clone(),
                name: p.display_name.clone(),
                detail: format!(
                    "{}, {}",
                    super::format::words(p.status.as_str()),
                    p.services
                        .iter()
                        .map(|s| super::format::words(s.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
            .collect(),
        kinds: crate::domain::codes::OrganisationKind::ALL
            .iter()
            .map(|k| (k.as_str(), super::format::words(k.as_str())))
            .collect(),
        services: crate::domain::codes::ServiceType::ALL
            .iter()
            .map(|k| (k.as_str(), super::format::words(k.as_str())))
            .collect(),
    }))
}

/// A new requesting organisation (`CreateOrganisation`).
pub async fn create_organisation(
    State(console): State<Shared>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let app = &console.app;
    let back = || Some("/registry".to_owned());
    let registered = app.registry_now().await?;
    let organisation = crate::domain::registry::Organisation::parse(
        Some(&crate::domain::command::registry::OrganisationFields {
            id: posted.get("id").trim().to_owned(),
            display_name: posted.get("display_name").to_owned(),
            kind: crate::domain::validation::Choice::word(posted.get("kind")),
            country: posted.get("country").trim().to_owned(),
            ..Default::default()
        }),
        registered.as_ref(),
    )
    .map_err(|v| PageError::from_app(v.into(), back()))?;
    registry::create_organisation(app, actor, organisation)
        .await
        .map_err(|e| PageError::from_app(e, back()))?;
    Ok(Redirect::to("/registry").into_response())
}

/// A provider's capacity commitment (`CreateCapacityCommitment`).
pub async fn create_commitment(
    State(console): State<Shared>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let app = &console.app;
    let back = || Some("/registry".to_owned());
    let registered = app.registry_now().await?;
    let day = |name: &str| super::records::day_of(posted.get(name));
    let commitment = crate::domain::dispatch::CapacityCommitment::parse(
        Some(&crate::domain::command::registry::CommitmentFields {
            provider: posted.get("provider").trim().to_owned(),
            service: crate::domain::validation::Choice::word(posted.get("service")),
            person_days: Count::Text(posted.get("person_days").to_owned()),
            period_start: day("period_start"),
            period_end: day("period_end"),
            ..Default::default()
        }),
        registered.as_ref(),
    )
    .map_err(|v| PageError::from_app(v.into(), back()))?;
    crate::app::capacity::create(app, actor, commitment)
        .await
        .map_err(|e| PageError::from_app(e, back()))?;
    Ok(Redirect::to("/capacity").into_response())
}

pub struct ActRow {
    pub reference: String,
    pub valid_from: String,
    pub valid_until: String,
    pub max_support_days: String,
    pub repeal_date: String,
}

#[derive(Template)]
#[template(path = "console/country.html")]
struct CountryPage {
    nav: Nav,
    code: String,
    display_name: String,
    third_country: bool,
    required_languages: String,
    required_clearance: String,
    clearances: Vec<(&'static str, String)>,
    required_certifications: String,
    association_date: String,
    reserve_coverage_from: String,
    single_point_of_contact: String,
    capability_info_received: String,
    capability_info_updated: String,
    specific_conditions: String,
    acts: Vec<ActRow>,
    refusals: Vec<Refusal>,
}

impl CountryPage {
    fn errors(&self, input: &str) -> Vec<&Refusal> {
        self.refusals.iter().filter(|r| r.input == input).collect()
    }
}

/// The input a refused field path belongs to.
fn input_of(field: &str) -> String {
    let path = field.strip_prefix("country.").unwrap_or(field);
    if let Some(rest) = path.strip_prefix("council_acts[")
        && let Some((i, name)) = rest.split_once(']')
    {
        let input = match name.trim_start_matches('.') {
            "valid_from" => "from",
            "valid_until" => "until",
            "max_support_days" => "cap",
            "repeal_date" | "repealed_on" => "repealed",
            _ => "reference",
        };
        return format!("act-{i}-{input}");
    }
    let top = path.split(['.', '[']).next().unwrap_or(path);
    match top {
        "display_name"
        | "required_languages"
        | "required_clearance"
        | "required_certifications"
        | "association_date"
        | "reserve_coverage_from"
        | "single_point_of_contact"
        | "capability_info_received"
        | "capability_info_updated"
        | "specific_conditions" => top.to_owned(),
        _ => String::new(),
    }
}

fn form_of(c: &Country) -> Vec<(String, String)> {
    let mut f = vec![
        ("display_name".to_owned(), c.display_name.clone()),
        ("required_languages".into(), c.required_languages.join(" ")),
        (
            "required_clearance".into(),
            c.required_clearance.as_str().to_owned(),
        ),
        (
            "required_certifications".into(),
            c.required_certifications.join(", "),
        ),
        ("association_date".into(), day(c.association_date)),
        ("reserve_coverage_from".into(), day(c.reserve_coverage_from)),
        (
            "single_point_of_contact".into(),
            c.single_point_of_contact.clone().unwrap_or_default(),
        ),
        (
            "capability_info_received".into(),
            day(c.capability_info_received),
        ),
        (
            "capability_info_updated".into(),
            day(c.capability_info_updated),
        ),
        (
            "specific_conditions".into(),
            c.specific_conditions.clone().unwrap_or_default(),
        ),
        ("acts".into(), c.council_acts.len().to_string()),
    ];
    for (i, a) in c.council_acts.iter().enumerate() {
        f.push((format!("act-{i}-reference"), a.reference.clone()));
        f.push((format!("act-{i}-from"), a.valid_from.to_string()));
        f.push((format!("act-{i}-until"), a.valid_until.to_string()));
        f.push((
            format!("act-{i}-cap"),
            a.max_support_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ));
        f.push((format!("act-{i}-repealed"), day(a.repealed_on)));
    }
    f
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn acts_count(fields: &[(String, String)]) -> usize {
    get(fields, "acts")
        .parse::<usize>()
        .unwrap_or(0)
        .min(MAX_ACTS)
}

fn page(
    user: &User,
    country: &Country,
    fields: &[(String, String)],
    refused: Option<&Violations>,
) -> CountryPage {
    CountryPage {
        nav: Nav::new(user, "/registry"),
        code: country.code.clone(),
        display_name: get(fields, "display_name").to_owned(),
        third_country: country.kind == crate::domain::codes::CountryKind::ThirdCountry,
        required_languages: get(fields, "required_languages").to_owned(),
        required_clearance: get(fields, "required_clearance").to_owned(),
        clearances: crate::domain::codes::Clearance::ALL
            .iter()
            .map(|c| (c.as_str(), super::format::words(c.as_str())))
            .collect(),
        required_certifications: get(fields, "required_certifications").to_owned(),
        association_date: get(fields, "association_date").to_owned(),
        reserve_coverage_from: get(fields, "reserve_coverage_from").to_owned(),
        single_point_of_contact: get(fields, "single_point_of_contact").to_owned(),
        capability_info_received: get(fields, "capability_info_received").to_owned(),
        capability_info_updated: get(fields, "capability_info_updated").to_owned(),
        specific_conditions: get(fields, "specific_conditions").to_owned(),
        acts: (0..acts_count(fields))
            .map(|i| ActRow {
                reference: get(fields, &format!("act-{i}-reference")).to_owned(),
                valid_from: get(fields, &format!("act-{i}-from")).to_owned(),
                valid_until: get(fields, &format!("act-{i}-until")).to_owned(),
                max_support_days: get(fields, &format!("act-{i}-cap")).to_owned(),
                repeal_date: get(fields, &format!("act-{i}-repealed")).to_owned(),
            })
            .collect(),
        refusals: super::forms::placed(refused, input_of),
    }
}

fn country_code(code: &str) -> Result<CountryCode, PageError> {
    CountryCode::from_id("name", code)
        .map_err(|_| PageError::NotFound(format!("countries/{code} not found")))
}

pub async fn country(
    State(console): State<Shared>,
    user: User,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    let code = country_code(&code)?;
    let country = registry::get_country(&console.app, &user.actor, &code).await?;
    Ok(render(&page(&user, &country, &form_of(&country), None)))
}

/// The country's form posted: an act added or removed, or the country
/// saved (`UpdateCountry`, the form's fields in the mask).
pub async fn update_country(
    State(console): State<Shared>,
    Path(code): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let code = country_code(&code)?;
    let app = &console.app;
    let current = registry::get_country(app, actor, &code).await?;
    let mut fields = posted.fields.clone();
    let n = acts_count(&fields);
    let action = posted.get("action");
    if action == "add-act" || action.starts_with("remove-act-") {
        let mut rows: Vec<[String; 5]> = (0..n)
            .map(|i| {
                ["reference", "from", "until", "cap", "repealed"]
                    .map(|k| get(&fields, &format!("act-{i}-{k}")).to_owned())
            })
            .collect();
        if action == "add-act" && n < MAX_ACTS {
            rows.push(Default::default());
        } else if let Some(i) = action
            .strip_prefix("remove-act-")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < rows.len())
        {
            rows.remove(i);
        }
        fields.retain(|(k, _)| !k.starts_with("act-") && k != "acts");
        fields.push(("acts".into(), rows.len().to_string()));
        for (i, row) in rows.into_iter().enumerate() {
            for (k, v) in ["reference", "from", "until", "cap", "repealed"]
                .iter()
                .zip(row)
            {
                fields.push((format!("act-{i}-{k}"), v));
            }
        }
        return Ok(render(&page(&posted.user, &current, &fields, None)));
    }
    let text_day = |name: &str| super::records::day_of(get(&fields, name));
    let record = CountryFields {
        name: code.name(),
        display_name: get(&fields, "display_name").to_owned(),
        required_languages: super::records::words(get(&fields, "required_languages")),
        required_clearance: crate::domain::validation::Choice::word(get(
            &fields,
            "required_clearance",
        )),
        required_certifications: super::records::items(get(&fields, "required_certifications")),
        association_date: text_day("association_date"),
        reserve_coverage_from: text_day("reserve_coverage_from"),
        single_point_of_contact: get(&fields, "single_point_of_contact").trim().to_owned(),
        capability_info_received: text_day("capability_info_received"),
        capability_info_updated: text_day("capability_info_updated"),
        specific_conditions: get(&fields, "specific_conditions").to_owned(),
        council_acts: (0..n)
            .map(|i| CouncilActFields {
                reference: get(&fields, &format!("act-{i}-reference")).to_owned(),
                valid_from: text_day(&format!("act-{i}-from")),
                valid_until: text_day(&format!("act-{i}-until")),
                max_support_days: Count::Text(get(&fields, &format!("act-{i}-cap")).to_owned()),
                repeal_date: text_day(&format!("act-{i}-repealed")),
            })
            .collect(),
        ..Default::default()
    };
    let update = UpdateFields {
        record: Some(record),
        update_mask: [
            "display_name",
            "required_languages",
            "required_clearance",
            "required_certifications",
            "association_date",
            "reserve_coverage_from",
            "single_point_of_contact",
            "capability_info_received",
            "capability_info_updated",
            "specific_conditions",
            "council_acts",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let saved = registry::update_country(app, actor, &code, |current| {
        Country::parse_update(&update, current)
    })
    .await;
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/registry/countries/{code}")).into_response()),
        Err(AppError::Invalid(v)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&page(&posted.user, &current, &fields, Some(&v))),
        )
            .into_response()),
        Err(e) => Err(PageError::from_app(e, Some("/registry".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_find_their_inputs() {
        assert_eq!(
            input_of("country.council_acts[1].valid_until"),
            "act-1-until"
        );
        assert_eq!(input_of("country.council_acts[0]"), "act-0-reference");
        assert_eq!(
            input_of("country.single_point_of_contact"),
            "single_point_of_contact"
        );
        assert_eq!(input_of("country.code"), "");
    }
}
