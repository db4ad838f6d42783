//! The requester's own work: filing a request (the Act's required content,
//! affected entities and service lines added and removed without script),
//! saving it as a draft, editing it, submitting it and withdrawing it. Each
//! form goes through the same commands as the API.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::format::words;
use super::forms::Refusal;
use super::pages::Nav;
use super::session::{Posted, User};
use super::{PageError, Shared, render};
use crate::app::{AppError, requests};
use crate::domain::actor::Operation;
use crate::domain::codes::{
    Classification, Clearance, EntityType, IncidentCategory, Sector, ServiceType, Severity, Tlp,
};
use crate::domain::command::UpdateFields;
use crate::domain::command::request::{
    ContactFields, ContentFields, CreateFields, CreateRequest, EditRequest, EditedFields,
    EntityFields, LineFields, Withdraw, WithdrawFields,
};
use crate::domain::names::RequestId;
use crate::domain::request::RequestContent;
use crate::domain::validation::{Choice, Count, Violations};

/// The most rows of a group the form holds: the domain's own limit on
/// affected entities or service lines, so that the form offers no row the
/// command would refuse.
fn max_rows(group: &str) -> usize {
    use crate::domain::request::limits;
    match group {
        "entities" => limits::AFFECTED_ENTITIES,
        _ => limits::SERVICE_LINES,
    }
}

/// A select's options: code, label, chosen.
pub type Options = Vec<(&'static str, String, bool)>;

fn options<T: Copy>(all: &[T], code: fn(T) -> &'static str, chosen: &str) -> Options {
    all.iter()
        .map(|v| (code(*v), words(code(*v)), code(*v) == chosen))
        .collect()
}

pub struct EntityRow {
    pub name: String,
    pub sectors: Options,
    pub types: Options,
    pub country: String,
}

pub struct LineRow {
    pub services: Options,
    pub days: String,
    pub languages: String,
    pub clearances: Options,
    pub planned_use: String,
}

#[derive(Template)]
#[template(path = "console/filing.html")]
struct FilingPage {
    nav: Nav,
    /// Where the form posts: `/requests/new` or `/requests/{id}/edit`.
    action: String,
    heading: String,
    request_id: String,
    version: String,
    title: String,
    description: String,
    categories: Options,
    classifications: Options,
    capacity_exceeded: bool,
    severities: Options,
    detected: String,
    countries: String,
    potential_impact: String,
    mitigation: String,
    other_support: String,
    tlps: Options,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    entities: Vec<EntityRow>,
    lines: Vec<LineRow>,
    refusals: Vec<Refusal>,
}

impl FilingPage {
    fn errors(&self, input: &str) -> Vec<&Refusal> {
        self.refusals.iter().filter(|r| r.input == input).collect()
    }
}

/// The form's values, typed or stored.
#[derive(Default)]
struct Values {
    fields: Vec<(String, String)>,
}

impl Values {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    fn count(&self, name: &str) -> usize {
        self.get(name)
            .parse::<usize>()
            .unwrap_or(1)
            .min(max_rows(name))
    }

    /// A stored request's content as the form's values.
    fn of(content: &RequestContent) -> Values {
        let mut v = Values::default();
        v.set("title", &content.title);
        v.set("description", &content.description);
        v.set("category", content.category.as_str());
        v.set("classification", content.classification.as_str());
        if content.capacity_exceeded_declared {
            v.set("capacity_exceeded", "on");
        }
        v.set("severity", content.severity.as_str());
        v.set(
            "detected",
            content.detected_at.format("%Y-%m-%dT%H:%M").to_string(),
        );
        v.set("countries", content.countries_affected.join(", "));
        v.set("potential_impact", &content.potential_impact);
        v.set("mitigation", &content.mitigation_measures);
        v.set("other_support", &content.other_support);
        v.set("tlp", content.tlp.as_str());
        v.set("contact_name", &content.contact.name);
        v.set("contact_email", &content.contact.email);
        v.set("contact_phone", &content.contact.phone);
        v.set(
            "entities",
            content.affected_entities.len().max(1).to_string(),
        );
        for (i, e) in content.affected_entities.iter().enumerate() {
            v.set(format!("entity-{i}-name"), &e.name);
            v.set(format!("entity-{i}-sector"), e.sector.as_str());
            v.set(format!("entity-{i}-type"), e.entity_type.as_str());
            v.set(format!("entity-{i}-country"), &e.country);
        }
        v.set("lines", content.service_lines.len().max(1).to_string());
        for (i, l) in content.service_lines.iter().enumerate() {
            v.set(format!("line-{i}-service"), l.service.as_str());
            v.set(format!("line-{i}-days"), l.person_days.to_string());
            v.set(format!("line-{i}-languages"), l.languages.join(", "));
            v.set(format!("line-{i}-clearance"), l.clearance.as_str());
            v.set(format!("line-{i}-use"), &l.planned_use);
        }
        v
    }

    /// The command's raw fields, as the API's would be.
    fn content(&self) -> ContentFields {
        let list = |text: &str| -> Vec<String> {
            text.split([',', ' ', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        ContentFields {
            title: self.get("title").to_owned(),
            description: self.get("description").to_owned(),
            category: Choice::word(self.get("category")),
            classification: Choice::word(self.get("classification")),
            capacity_exceeded_declared: self.get("capacity_exceeded") == "on",
            severity: Choice::word(self.get("severity")),
            detect_time: super::pages::typed_time(self.get("detected")),
            affected_entities: (0..self.count("entities"))
                .map(|i| EntityFields {
                    name: self.get(&format!("entity-{i}-name")).to_owned(),
                    sector: Choice::word(self.get(&format!("entity-{i}-sector"))),
                    entity_type: Choice::word(self.get(&format!("entity-{i}-type"))),
                    country: self.get(&format!("entity-{i}-country")).trim().to_owned(),
                })
                .collect(),
            countries_affected: list(self.get("countries")),
            potential_impact: self.get("potential_impact").to_owned(),
            mitigation_measures: self.get("mitigation").to_owned(),
            other_support: self.get("other_support").to_owned(),
            service_lines: (0..self.count("lines"))
                .map(|i| LineFields {
                    service: Choice::word(self.get(&format!("line-{i}-service"))),
                    person_days: Count::Text(self.get(&format!("line-{i}-days")).to_owned()),
                    languages: list(self.get(&format!("line-{i}-languages"))),
                    clearance: Choice::word(self.get(&format!("line-{i}-clearance"))),
                    planned_use: self.get(&format!("line-{i}-use")).to_owned(),
                })
                .collect(),
            tlp: Choice::word(self.get("tlp")),
            contact: Some(ContactFields {
                name: self.get("contact_name").to_owned(),
                email: self.get("contact_email").to_owned(),
                phone: self.get("contact_phone").to_owned(),
            }),
        }
    }

    /// The values after a row was added or removed (`action`), renumbered.
    fn reshaped(mut self, action: &str) -> Values {
        for (group, prefix) in [("entities", "entity"), ("lines", "line")] {
            let n = self.count(group);
            if action == format!("add-{prefix}") && n < max_rows(group) {
                self.fields.retain(|(k, _)| k != group);
                self.set(group, (n + 1).to_string());
            }
            if let Some(i) = action
                .strip_prefix(&format!("remove-{prefix}-"))
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < n && n > 1)
            {
                let row = |k: &str| -> Option<(usize, String)> {
                    let rest = k.strip_prefix(&format!("{prefix}-"))?;
                    let (index, name) = rest.split_once('-')?;
                    Some((index.parse().ok()?, name.to_owned()))
                };
                self.fields = std::mem::take(&mut self.fields)
                    .into_iter()
                    .filter_map(|(k, v)| match row(&k) {
                        Some((j, _)) if j == i => None,
                        Some((j, name)) if j > i => Some((format!("{prefix}-{}-{name}", j - 1), v)),
                        _ if k == group => Some((k, (n - 1).to_string())),
                        _ => Some((k, v)),
                    })
                    .collect();
            }
        }
        self
    }
}

/// The input a refused field path belongs to.
fn input_of(field: &str) -> String {
    let path = field.strip_prefix("support_request.").unwrap_or(field);
    let indexed = |path: &str, group: &str| -> Option<(usize, String)> {
        let rest = path.strip_prefix(group)?.strip_prefix('[')?;
        let (index, rest) = rest.split_once(']')?;
        Some((index.parse().ok()?, rest.trim_start_matches('.').to_owned()))
    };
    if let Some((i, name)) = indexed(path, "affected_entities") {
        let input = match name.as_str() {
            "sector" => "sector",
            "entity_type" => "type",
            "country" => "country",
            _ => "name",
        };
        return format!("entity-{i}-{input}");
    }
    if let Some((i, name)) = indexed(path, "service_lines") {
        let input = match name.split(['.', '[']).next().unwrap_or_default() {
            "person_days" => "days",
            "languages" => "languages",
            "clearance" => "clearance",
            "planned_use" => "use",
            _ => "service",
        };
        return format!("line-{i}-{input}");
    }
    let top = path.split(['.', '[']).next().unwrap_or(path);
    match top {
        "title" | "description" | "category" | "classification" | "severity" | "tlp"
        | "potential_impact" | "other_support" => top.to_owned(),
        "capacity_exceeded_declared" => "capacity_exceeded".into(),
        "detect_time" => "detected".into(),
        "countries_affected" => "countries".into(),
        "mitigation_measures" => "mitigation".into(),
        "contact" => match path.rsplit('.').next() {
            Some("email") => "contact_email".into(),
            Some("phone") => "contact_phone".into(),
            _ => "contact_name".into(),
        },
        _ => String::new(),
    }
}

fn page(
    user: &User,
    action: String,
    heading: String,
    values: &Values,
    refused: Option<&Violations>,
) -> FilingPage {
    let v = values;
    let entities = (0..v.count("entities"))
        .map(|i| EntityRow {
            name: v.get(&format!("entity-{i}-name")).to_owned(),
            sectors: options(
                Sector::ALL,
                Sector::as_str,
                v.get(&format!("entity-{i}-sector")),
            ),
            types: options(
                EntityType::ALL,
                EntityType::as_str,
                v.get(&format!("entity-{i}-type")),
            ),
            country: v.get(&format!("entity-{i}-country")).to_owned(),
        })
        .collect();
    let lines = (0..v.count("lines"))
        .map(|i| LineRow {
            services: options(
                ServiceType::ALL,
                ServiceType::as_str,
                v.get(&format!("line-{i}-service")),
            ),
            days: v.get(&format!("line-{i}-days")).to_owned(),
            languages: v.get(&format!("line-{i}-languages")).to_owned(),
            clearances: options(
                Clearance::ALL,
                Clearance::as_str,
                match v.get(&format!("line-{i}-clearance")) {
                    "" => "NONE",
                    chosen => chosen,
                },
            ),
            planned_use: v.get(&format!("line-{i}-use")).to_owned(),
        })
        .collect();
    FilingPage {
        nav: Nav::new(user, "/requests"),
        action,
        heading,
        request_id: match v.get("request_id") {
            "" => uuid::Uuid::new_v4().to_string(),
            id => id.to_owned(),
        },
        version: v.get("version").to_owned(),
        title: v.get("title").to_owned(),
        description: v.get("description").to_owned(),
        categories: options(
            IncidentCategory::ALL,
            IncidentCategory::as_str,
            v.get("category"),
        ),
        classifications: options(
            Classification::ALL,
            Classification::as_str,
            v.get("classification"),
        ),
        capacity_exceeded: v.get("capacity_exceeded") == "on",
        severities: options(Severity::ALL, Severity::as_str, v.get("severity")),
        detected: v.get("detected").to_owned(),
        countries: v.get("countries").to_owned(),
        potential_impact: v.get("potential_impact").to_owned(),
        mitigation: v.get("mitigation").to_owned(),
        other_support: v.get("other_support").to_owned(),
        tlps: options(
            Tlp::ALL,
            Tlp::as_str,
            match v.get("tlp") {
                "" => "AMBER",
                chosen => chosen,
            },
        ),
        contact_name: v.get("contact_name").to_owned(),
        contact_email: v.get("contact_email").to_owned(),
        contact_phone: v.get("contact_phone").to_owned(),
        entities,
        lines,
        refusals: super::forms::placed(refused, input_of),
    }
}

fn sent_back(page: &FilingPage) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, render(page)).into_response()
}

/// A new request's form.
pub async fn new(user: User) -> Result<Response, PageError> {
    user.permit(Operation::FileRequests)?;
    let mut values = Values::default();
    values.set("entities", "1");
    values.set("lines", "1");
    Ok(render(&page(
        &user,
        "/requests/new".into(),
        "File a request for support".into(),
        &values,
        None,
    )))
}

/// The new request's form posted: a row added or removed, or the draft
/// saved (`CreateSupportRequest`, idempotent by the form's `request_id`).
pub async fn create(State(console): State<Shared>, posted: Posted) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::FileRequests)?;
    let values = Values {
        fields: posted.fields.clone(),
    };
    let action = posted.get("action").to_owned();
    let heading = "File a request for support".to_owned();
    if action != "save" {
        return Ok(render(&page(
            &posted.user,
            "/requests/new".into(),
            heading,
            &values.reshaped(&action),
            None,
        )));
    }
    let app = &console.app;
    let created = CreateRequest::parse(
        &CreateFields {
            request_id: values.get("request_id").to_owned(),
            content: Some(values.content()),
        },
        app.now(),
    )
    .map_err(AppError::from);
    let created = match created {
        Ok(command) => requests::create(app, actor, command).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(AppError::Invalid(v)) => Ok(sent_back(&page(
            &posted.user,
            "/requests/new".into(),
            heading,
            &values,
            Some(&v),
        ))),
        Err(e) => Err(PageError::from_app(e, Some("/requests".into()))),
    }
}

fn request_id(id: &str) -> Result<RequestId, PageError> {
    RequestId::from_id("name", id).map_err(|_| PageError::NotFound(format!("{id} not found")))
}

/// A draft's (or a request sent back for information's) form, filled in.
pub async fn edit(
    State(console): State<Shared>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::FileRequests)?;
    let id = request_id(&id)?;
    let request = requests::get(&console.app, &user.actor, &id).await?;
    let mut values = Values::of(&request.content);
    values.set("version", request.version.to_string());
    Ok(render(&page(
        &user,
        format!("/requests/{id}/edit"),
        format!("Edit {}", request.reference),
        &values,
        None,
    )))
}

/// The edit posted: a row added or removed, or the whole content replaced
/// (`UpdateSupportRequest` with every field in its mask).
pub async fn update(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::FileRequests)?;
    let id = request_id(&id)?;
    let values = Values {
        fields: posted.fields.clone(),
    };
    let action = posted.get("action").to_owned();
    let heading = "Edit the request".to_owned();
    let here = format!("/requests/{id}/edit");
    if action != "save" {
        return Ok(render(&page(
            &posted.user,
            here,
            heading,
            &values.reshaped(&action),
            None,
        )));
    }
    let app = &console.app;
    let now = app.now();
    let fields = UpdateFields {
        record: Some(EditedFields {
            name: id.name(),
            content: values.content(),
        }),
        update_mask: EDITABLE.iter().map(|f| (*f).to_owned()).collect(),
    };
    let updated = requests::update(app, actor, &id, |current| {
        EditRequest::parse(&fields, current, now)
    })
    .await;
    match updated {
        Ok(_) => Ok(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(AppError::Invalid(v)) => Ok(sent_back(&page(
            &posted.user,
            here,
            heading,
            &values,
            Some(&v),
        ))),
        Err(e) => Err(PageError::from_app(e, Some(format!("/requests/{id}")))),
    }
}

/// Every field the form edits.
const EDITABLE: [&str; 15] = [
    "title",
    "description",
    "category",
    "classification",
    "capacity_exceeded_declared",
    "severity",
    "detect_time",
    "affected_entities",
    "countries_affected",
    "potential_impact",
    "mitigation_measures",
    "other_support",
    "service_lines",
    "tlp",
    "contact",
];

/// Submits a draft (or submits again after answering the decider's
/// questions).
pub async fn submit(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::FileRequests)?;
    let id = request_id(&id)?;
    requests::submit(&console.app, actor, &id)
        .await
        .map_err(|e| PageError::from_app(e, Some(format!("/requests/{id}"))))?;
    Ok(Redirect::to(&format!("/requests/{id}")).into_response())
}

/// Withdraws the request, with its reason.
pub async fn withdraw(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::FileRequests)?;
    let id = request_id(&id)?;
    let back = Some(format!("/requests/{id}"));
    let command = Withdraw::parse(&WithdrawFields {
        name: id.name(),
        reason: posted.get("reason").to_owned(),
    })
    .map_err(|v| PageError::from_app(v.into(), back.clone()))?;
    requests::withdraw(&console.app, actor, command)
        .await
        .map_err(|e| PageError::from_app(e, back))?;
    Ok(Redirect::to(&format!("/requests/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_find_their_inputs() {
        assert_eq!(input_of("support_request.title"), "title");
        assert_eq!(
            input_of("support_request.service_lines[1].person_days"),
            "line-1-days"
        );
        assert_eq!(
            input_of("support_request.affected_entities[0].entity_type"),
            "entity-0-type"
        );
        assert_eq!(input_of("support_request.contact.email"), "contact_email");
        assert_eq!(input_of("support_request.detect_time"), "detected");
        assert_eq!(input_of("request_id"), "");
    }

    #[test]
    fn rows_are_added_and_removed_and_renumbered() {
        let mut v = Values::default();
        v.set("lines", "3");
        for i in 0..3 {
            v.set(format!("line-{i}-days"), (i + 1).to_string());
        }
        let v = v.reshaped("remove-line-1");
        assert_eq!(v.count("lines"), 2);
        assert_eq!(v.get("line-0-days"), "1");
        assert_eq!(v.get("line-1-days"), "3");
        let v = v.reshaped("add-line");
        assert_eq!(v.count("lines"), 3);
        assert_eq!(v.get("line-2-days"), "");
    }
}
