//! The registry's record forms: a new country, a new or changed provider, a
//! changed organisation, each input named after the API's field, so that a
//! refusal of the API lands next to the input it names; and the import of a
//! registry file, read by the same reader as the `ImportRegistry` RPC.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::forms::Form;
use super::pages::Nav;
use super::session::{Posted, PostedFile, User};
use super::{PageError, Shared, render};
use crate::app::{AppError, registry, registry_import};
use crate::domain::actor::Operation;
use crate::domain::codes::{Clearance, CountryKind, OrganisationKind, ProviderStatus, ServiceType};
use crate::domain::command::UpdateFields;
use crate::domain::command::registry::{
    CountryFields, ORGANISATION_UPDATABLE, OrganisationFields, PROVIDER_UPDATABLE, ProviderFields,
};
use crate::domain::names::{self, OrganisationId, ProviderId};
use crate::domain::registry::{Country, Organisation, Provider};
use crate::domain::validation::{Choice, Count, Day, Violations};

/// One input of a record form.
pub struct Input {
    /// The form's name for it: the API's field name.
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `number`, `date`, `select` or `checkboxes`.
    pub kind: &'static str,
    /// What the input holds (as typed, when the form is sent back).
    pub value: String,
    /// For `select` and `checkboxes`: the codes and their words.
    pub options: Vec<(&'static str, String)>,
    /// For `checkboxes`: the codes ticked.
    pub checked: Vec<String>,
    pub hint: &'static str,
    pub required: bool,
}

impl Input {
    fn new(name: &'static str, label: &'static str, kind: &'static str) -> Input {
        Input {
            name,
            label,
            kind,
            value: String::new(),
            options: Vec::new(),
            checked: Vec::new(),
            hint: "",
            required: false,
        }
    }

    fn required(self) -> Input {
        Input {
            required: true,
            ..self
        }
    }

    fn hint(self, hint: &'static str) -> Input {
        Input { hint, ..self }
    }

    fn choices<T: Copy>(self, all: &[T], code: fn(T) -> &'static str) -> Input {
        Input {
            options: all
                .iter()
                .map(|c| (code(*c), super::format::words(code(*c))))
                .collect(),
            ..self
        }
    }

    fn is_checked(&self, code: &str) -> bool {
        self.checked.iter().any(|c| c == code)
    }
}

#[derive(Template)]
#[template(path = "console/record.html")]
struct RecordPage {
    nav: Nav,
    title: String,
    intro: &'static str,
    action: String,
    submit: &'static str,
    inputs: Vec<Input>,
    form: Form,
}

impl RecordPage {
    fn errors(&self, input: &str) -> Vec<&super::forms::FieldError> {
        self.form.errors(input)
    }
}

/// Every code of a list, space separated.
fn joined(items: &[String]) -> String {
    items.join(" ")
}

/// A list typed as words separated by spaces or commas (codes and ids).
pub(super) fn words(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n', '\r', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A list typed one per line or separated by commas (certifications).
pub(super) fn items(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A day typed in a date input; empty is none.
pub(super) fn day_of(text: &str) -> Day {
    match text.trim() {
        "" => Day::Unset,
        text => Day::Text(text.to_owned()),
    }
}

/// `inputs` filled from `values` (the record as stored), or from what was
/// typed when the form is sent back.
fn filled(mut inputs: Vec<Input>, values: &[(&str, String)], form: &Form) -> Vec<Input> {
    for input in &mut inputs {
        let stored = values
            .iter()
            .find(|(k, _)| *k == input.name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if input.kind == "checkboxes" {
            input.checked = if form.sent() {
                form.all(input.name)
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect()
            } else {
                words(stored)
            };
        } else {
            input.value = form.value(input.name, stored).to_owned();
        }
    }
    inputs
}

/// A refusal of `record.field[0]` next to the input `field`.
fn refused(posted: &Posted, v: &Violations, record: &str, inputs: &[Input]) -> Form {
    let names: Vec<&'static str> = inputs.iter().map(|i| i.name).collect();
    Form::refused(posted, v, "record-form", |field| {
        let path = field
            .strip_prefix(record)
            .and_then(|p| p.strip_prefix('.'))
            .unwrap_or(field);
        let top = path.split(['.', '[']).next().unwrap_or(path);
        names
            .iter()
            .find(|n| **n == top)
            .map(|n| ((*n).to_owned(), format!("input-{n}")))
    })
}

fn refusal_page(page: RecordPage) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
}

// Countries.

fn country_inputs() -> Vec<Input> {
    vec![
        Input::new("code", "Code (ISO 3166-1 alpha-2, or EU)", "text").required(),
        Input::new("display_name", "Name", "text").required(),
        Input::new("kind", "Kind", "select")
            .required()
            .choices(CountryKind::ALL, CountryKind::as_str),
        Input::new(
            "required_languages",
            "Languages providers must work in",
            "text",
        )
        .hint("Codes such as ro en, separated by spaces."),
        Input::new(
            "required_clearance",
            "Security clearance required",
            "select",
        )
        .required()
        .choices(Clearance::ALL, Clearance::as_str),
        Input::new("required_certifications", "Certifications required", "text")
            .hint("Separated by commas."),
        Input::new("association_date", "Associated with the Reserve on", "date")
            .hint("Third countries: the day its agreement applies from."),
        Input::new(
            "reserve_coverage_from",
            "Covered by the Reserve from",
            "date",
        ),
    ]
}

fn country_page(user: &User, form: Form) -> RecordPage {
    RecordPage {
        nav: Nav::new(user, "/registry"),
        title: "New country".into(),
        intro: "Its Council implementing acts, single point of contact and capability information are added on the country's page once it is created.",
        action: "/registry/countries".into(),
        submit: "Create the country",
        inputs: filled(country_inputs(), &[], &form),
        form,
    }
}

pub async fn new_country(user: User) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    Ok(render(&country_page(&user, Form::default())))
}

/// A new country (`CreateCountry`).
pub async fn create_country(
    State(console): State<Shared>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let fields = CountryFields {
        code: posted.get("code").to_uppercase(),
        display_name: posted.get("display_name").to_owned(),
        kind: Choice::word(posted.get("kind")),
        required_languages: words(posted.get("required_languages")),
        required_clearance: Choice::word(posted.get("required_clearance")),
        required_certifications: items(posted.get("required_certifications")),
        association_date: day_of(posted.get("association_date")),
        reserve_coverage_from: day_of(posted.get("reserve_coverage_from")),
        ..Default::default()
    };
    let created = match Country::parse(Some(&fields)) {
        Ok(country) => registry::create_country(&console.app, actor, country).await,
        Err(v) => Err(v.into()),
    };
    match created {
        Ok(c) => Ok(Redirect::to(&format!("/registry/countries/{}", c.code)).into_response()),
        Err(AppError::Invalid(v)) => {
            let form = refused(&posted, &v, "country", &country_inputs());
            Ok(refusal_page(country_page(&posted.user, form)))
        }
        Err(e) => Err(PageError::from_app(
            e,
            Some("/registry/countries/new".into()),
        )),
    }
}

// Providers.

fn provider_inputs(creating: bool) -> Vec<Input> {
    let mut inputs = Vec::new();
    if creating {
        inputs.push(
            Input::new("id", "Id", "text")
                .required()
                .hint("Letters, digits, - _ and dots; the provider signs in as it."),
        );
    }
    inputs.extend([
        Input::new("display_name", "Name", "text").required(),
        Input::new("country", "Country of establishment (code)", "text").required(),
        Input::new("status", "Status", "select")
            .required()
            .choices(ProviderStatus::ALL, ProviderStatus::as_str),
        Input::new("services", "Services", "checkboxes")
            .choices(ServiceType::ALL, ServiceType::as_str),
        Input::new("languages", "Working languages", "text")
            .hint("Codes such as ro en, separated by spaces."),
        Input::new("deployable_countries", "Countries it deploys to", "text")
            .hint("Codes such as MD RO, separated by spaces."),
        Input::new("clearance", "Security clearance", "select")
            .required()
            .choices(Clearance::ALL, Clearance::as_str),
        Input::new("certifications", "Certifications", "text").hint("Separated by commas."),
        Input::new("hours_to_deploy", "Hours to deploy", "number").required(),
        Input::new(
            "conflict_organisations",
            "Organisations it has a conflict of interest with (ids)",
            "text",
        ),
        Input::new(
            "conflict_countries",
            "Countries it has a conflict of interest with (codes)",
            "text",
        ),
    ]);
    inputs
}

fn provider_values(p: &Provider) -> Vec<(&'static str, String)> {
    vec![
        ("id", p.id.clone()),
        ("display_name", p.display_name.clone()),
        ("country", p.country.clone()),
        ("status", p.status.as_str().to_owned()),
        (
            "services",
            p.services
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("languages", joined(&p.languages)),
        ("deployable_countries", joined(&p.deployable_countries)),
        ("clearance", p.clearance.as_str().to_owned()),
        ("certifications", p.certifications.join(", ")),
        ("hours_to_deploy", p.hours_to_deploy.to_string()),
        ("conflict_organisations", joined(&p.conflict_organisations)),
        ("conflict_countries", joined(&p.conflict_countries)),
    ]
}

fn provider_fields(posted: &Posted, id: &str) -> ProviderFields {
    ProviderFields {
        name: names::provider(id),
        id: id.to_owned(),
        display_name: posted.get("display_name").to_owned(),
        country: posted.get("country").to_uppercase(),
        status: Choice::word(posted.get("status")),
        services: posted
            .fields
            .iter()
            .filter(|(k, _)| k == "services")
            .map(|(_, v)| Choice::word(v))
            .collect(),
        languages: words(posted.get("languages")),
        deployable_countries: words(&posted.get("deployable_countries").to_uppercase()),
        clearance: Choice::word(posted.get("clearance")),
        certifications: items(posted.get("certifications")),
        hours_to_deploy: Count::Text(posted.get("hours_to_deploy").to_owned()),
        conflict_organisations: words(posted.get("conflict_organisations")),
        conflict_countries: words(&posted.get("conflict_countries").to_uppercase()),
    }
}

fn provider_page(user: &User, current: Option<&Provider>, form: Form) -> RecordPage {
    let values = current.map(provider_values).unwrap_or_default();
    RecordPage {
        nav: Nav::new(user, "/registry"),
        title: match current {
            Some(p) => format!("Provider {}", p.display_name),
            None => "New provider".into(),
        },
        intro: "A trusted provider of the Reserve: what it offers, where it deploys, and the conflicts of interest that keep it from a request.",
        action: match current {
            Some(p) => format!("/registry/providers/{}", p.id),
            None => "/registry/providers".into(),
        },
        submit: match current {
            Some(_) => "Save the provider",
            None => "Create the provider",
        },
        inputs: filled(provider_inputs(current.is_none()), &values, &form),
        form,
    }
}

pub async fn new_provider(user: User) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    Ok(render(&provider_page(&user, None, Form::default())))
}

/// A new provider (`CreateProvider`).
pub async fn create_provider(
    State(console): State<Shared>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let fields = provider_fields(&posted, posted.get("id"));
    let created = match Provider::parse(Some(&fields)) {
        Ok(provider) => registry::create_provider(&console.app, actor, provider).await,
        Err(v) => Err(v.into()),
    };
    match created {
        Ok(p) => Ok(Redirect::to(&format!("/registry/providers/{}", p.id)).into_response()),
        Err(AppError::Invalid(v)) => {
            let form = refused(&posted, &v, "provider", &provider_inputs(true));
            Ok(refusal_page(provider_page(&posted.user, None, form)))
        }
        Err(e) => Err(PageError::from_app(
            e,
            Some("/registry/providers/new".into()),
        )),
    }
}

fn provider_id(id: &str) -> Result<ProviderId, PageError> {
    ProviderId::from_id("name", id)
        .map_err(|_| PageError::NotFound(format!("providers/{id} not found")))
}

pub async fn provider(
    State(console): State<Shared>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    let id = provider_id(&id)?;
    let current = registry::get_provider(&console.app, &user.actor, &id).await?;
    Ok(render(&provider_page(
        &user,
        Some(&current),
        Form::default(),
    )))
}

/// The provider's form saved (`UpdateProvider`, every field of the form
/// in the mask).
pub async fn update_provider(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let id = provider_id(&id)?;
    let app = &console.app;
    let current = registry::get_provider(app, actor, &id).await?;
    let update = UpdateFields {
        record: Some(provider_fields(&posted, &current.id)),
        update_mask: PROVIDER_UPDATABLE.iter().map(|f| (*f).to_owned()).collect(),
    };
    let saved =
        registry::update_provider(app, actor, &id, |c| Provider::parse_update(&update, c)).await;
    match saved {
        Ok(p) => Ok(Redirect::to(&format!("/registry/providers/{}", p.id)).into_response()),
        Err(AppError::Invalid(v)) => {
            let form = refused(&posted, &v, "provider", &provider_inputs(false));
            Ok(refusal_page(provider_page(
                &posted.user,
                Some(&current),
                form,
            )))
        }
        Err(e) => Err(PageError::from_app(e, Some("/registry".into()))),
    }
}

// Organisations.

fn organisation_inputs() -> Vec<Input> {
    vec![
        Input::new("display_name", "Name", "text").required(),
        Input::new("kind", "Kind", "select")
            .required()
            .choices(OrganisationKind::ALL, OrganisationKind::as_str),
        Input::new("country", "Country (code)", "text").required(),
    ]
}

fn organisation_page(user: &User, current: &Organisation, form: Form) -> RecordPage {
    let values = [
        ("display_name", current.display_name.clone()),
        ("kind", current.kind.as_str().to_owned()),
        ("country", current.country.clone()),
    ];
    RecordPage {
        nav: Nav::new(user, "/registry"),
        title: format!("Organisation {}", current.display_name),
        intro: "A requesting organisation: its people file requests for it. Whether it is its country's single point of contact is said on the country's page.",
        action: format!("/registry/organisations/{}", current.id),
        submit: "Save the organisation",
        inputs: filled(organisation_inputs(), &values, &form),
        form,
    }
}

fn organisation_id(id: &str) -> Result<OrganisationId, PageError> {
    OrganisationId::from_id("name", id)
        .map_err(|_| PageError::NotFound(format!("organisations/{id} not found")))
}

pub async fn organisation(
    State(console): State<Shared>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    let id = organisation_id(&id)?;
    let current = registry::get_organisation(&console.app, &user.actor, &id).await?;
    Ok(render(&organisation_page(&user, &current, Form::default())))
}

/// The organisation's form saved (`UpdateOrganisation`).
pub async fn update_organisation(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let id = organisation_id(&id)?;
    let app = &console.app;
    let current = registry::get_organisation(app, actor, &id).await?;
    let registered = app.registry_now().await?;
    let update = UpdateFields {
        record: Some(OrganisationFields {
            name: names::organisation(&current.id),
            id: current.id.clone(),
            display_name: posted.get("display_name").to_owned(),
            kind: Choice::word(posted.get("kind")),
            country: posted.get("country").to_uppercase(),
        }),
        update_mask: ORGANISATION_UPDATABLE
            .iter()
            .map(|f| (*f).to_owned())
            .collect(),
    };
    let saved = registry::update_organisation(app, actor, &id, |c| {
        Organisation::parse_update(&update, c, registered.as_ref())
    })
    .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/registry").into_response()),
        Err(AppError::Invalid(v)) => {
            let form = refused(&posted, &v, "organisation", &organisation_inputs());
            Ok(refusal_page(organisation_page(
                &posted.user,
                &current,
                form,
            )))
        }
        Err(e) => Err(PageError::from_app(e, Some("/registry".into()))),
    }
}

// The import of a registry file.

pub struct ChangeRow {
    pub resource: String,
    pub outcome: &'static str,
    pub fields: String,
}

#[derive(Template)]
#[template(path = "console/import.html")]
struct ImportPage {
    nav: Nav,
    /// The text pasted, kept when the file is refused.
    document: String,
    refusals: Vec<(String, String)>,
    /// Why the file was not taken, when it is not a field's fault.
    message: String,
    /// The outcome, once sent: whether it was only checked, and each record.
    checked_only: bool,
    changes: Option<Vec<ChangeRow>>,
    counts: String,
}

impl ImportPage {
    fn new(user: &User) -> ImportPage {
        ImportPage {
            nav: Nav::new(user, "/registry"),
            document: String::new(),
            refusals: Vec::new(),
            message: String::new(),
            checked_only: false,
            changes: None,
            counts: String::new(),
        }
    }
}

pub async fn import_form(user: User) -> Result<Response, PageError> {
    user.permit(Operation::WriteRegistry)?;
    Ok(render(&ImportPage::new(&user)))
}

/// A registry file imported, or only checked (`ImportRegistry`): the file
/// chosen, or else the text pasted.
pub async fn import(
    State(console): State<Shared>,
    PostedFile(posted): PostedFile,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::WriteRegistry)?;
    let raw = |name: &str| {
        posted
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let pasted = raw("document");
    let document = match raw("file") {
        file if !file.trim().is_empty() => file,
        _ => pasted,
    };
    let checked_only = posted.get("action") == "check";
    let mut page = ImportPage {
        document: pasted.to_owned(),
        checked_only,
        ..ImportPage::new(&posted.user)
    };
    let outcome = match crate::registry_file::read(document) {
        Ok(file) => registry_import::import(&console.app, actor, &file, checked_only).await,
        Err(v) => Err(v.into()),
    };
    match outcome {
        Ok(changes) => {
            let count = |o| changes.iter().filter(|c| c.outcome == o).count();
            page.counts = format!(
                "{} created, {} updated, {} unchanged",
                count(registry_import::Outcome::Created),
                count(registry_import::Outcome::Updated),
                count(registry_import::Outcome::Unchanged)
            );
            page.changes = Some(
                changes
                    .into_iter()
                    .map(|c| ChangeRow {
                        resource: c.resource,
                        outcome: c.outcome.as_str(),
                        fields: c.fields.join(", "),
                    })
                    .collect(),
            );
            Ok(render(&page))
        }
        Err(AppError::Invalid(v)) => {
            page.refusals = v
                .iter()
                .map(|f| (f.field.clone(), f.description.clone()))
                .collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(AppError::FailedPrecondition(m) | AppError::AlreadyExists(m)) => {
            page.message = m;
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(e) => Err(PageError::from_app(e, Some("/registry/import".into()))),
    }
}
