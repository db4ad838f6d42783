//! `reserve registry`: administrators import, export and list the registry.
//!
//! The file is YAML (or JSON) with up to four lists, each entry in the proto3
//! JSON mapping of its message: `countries`, `organisations`, `providers` and
//! `capacity_commitments` (see examples/registry.yaml). Import creates what is
//! missing and updates what differs, field by field, so it can be run twice;
//! `export` writes the same shape, so export then import changes nothing.
//! Countries are identified by `code`, organisations and providers by `id`,
//! commitments by provider, service and period (their ids are the server's).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use tonic::transport::Channel;

use super::{ClientArgs, Format, date_text, files, print, server, service_name, short, table};
use crate::grpc::pb;
use files::Named;

type Client = pb::registry_service_client::RegistryServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Create what the file holds and is missing, update what differs.
    Import { file: PathBuf },
    /// The whole registry as YAML, in the shape `import` reads.
    Export {
        /// File to write; standard output when absent.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// List one part of the registry.
    List {
        #[arg(value_enum)]
        what: Part,
        /// Commitments of this provider only.
        #[arg(long)]
        provider: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Part {
    Countries,
    Organisations,
    Providers,
    Commitments,
}

/// The fields an import may change, by message (the rest are identity or
/// output only).
const COUNTRY_FIELDS: &[&str] = &[
    "display_name",
    "kind",
    "required_languages",
    "required_clearance",
    "required_certifications",
    "association_date",
    "reserve_coverage_from",
    "council_acts",
    "single_point_of_contact",
    "capability_info_received",
    "capability_info_updated",
    "specific_conditions",
];
const ORGANISATION_FIELDS: &[&str] = &["display_name", "kind", "country"];
const PROVIDER_FIELDS: &[&str] = &[
    "display_name",
    "country",
    "status",
    "services",
    "languages",
    "deployable_countries",
    "clearance",
    "certifications",
    "hours_to_deploy",
    "conflict_organisations",
    "conflict_countries",
];
const COMMITMENT_FIELDS: &[&str] = &["person_days"];

pub async fn run(args: ClientArgs, command: RegistryCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    match command {
        RegistryCommand::Import { file } => {
            let document = Document::read(&file)?;
            let mut client = Client::new(connection.channel().await?);
            let outcome = import(&mut client, connection, &document).await?;
            match args.output {
                Format::Json => println!("{}", serde_json::to_string_pretty(&outcome.to_json())?),
                Format::Table => print!("{}", outcome.render()),
            }
            Ok(())
        }
        RegistryCommand::Export { to } => {
            let mut client = Client::new(connection.channel().await?);
            let registry = Registry::fetch(&mut client, connection, None).await?;
            let text = serde_norway::to_string(&registry.to_json()?)?;
            match to {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        RegistryCommand::List { what, provider } => {
            let mut client = Client::new(connection.channel().await?);
            let out = args.output;
            match what {
                Part::Countries => {
                    let all = pb::ListCountriesResponse {
                        countries: countries(&mut client, connection).await?,
                        ..Default::default()
                    };
                    print(out, &all, |l| render_countries(&l.countries))
                }
                Part::Organisations => {
                    let all = pb::ListOrganisationsResponse {
                        organisations: organisations(&mut client, connection).await?,
                        ..Default::default()
                    };
                    print(out, &all, |l| render_organisations(&l.organisations))
                }
                Part::Providers => {
                    let all = pb::ListProvidersResponse {
                        providers: providers(&mut client, connection).await?,
                        ..Default::default()
                    };
                    print(out, &all, |l| render_providers(&l.providers))
                }
                Part::Commitments => {
                    let provider = provider.map(|p| super::resource("providers", &p));
                    let all = pb::ListCapacityCommitmentsResponse {
                        capacity_commitments: commitments(&mut client, connection, provider)
                            .await?,
                        ..Default::default()
                    };
                    print(out, &all, |l| render_commitments(&l.capacity_commitments))
                }
            }
        }
    }
}

/// An import file, read and checked before anything is sent.
struct Document {
    countries: Vec<Entry<pb::Country>>,
    organisations: Vec<Entry<pb::Organisation>>,
    providers: Vec<Entry<pb::Provider>>,
    commitments: Vec<Entry<pb::CapacityCommitment>>,
}

/// One record of the file: the message, and the fields the file sets.
struct Entry<M> {
    message: M,
    json: Value,
    fields: Vec<String>,
}

impl Document {
    fn read(path: &Path) -> anyhow::Result<Document> {
        let value = files::read_document(path)?;
        let Value::Object(sections) = &value else {
            unreachable!("read_document returns mappings")
        };
        const SECTIONS: [&str; 4] = [
            "countries",
            "organisations",
            "providers",
            "capacity_commitments",
        ];
        if let Some(unknown) = sections.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            anyhow::bail!(
                "{}: {unknown}: not a part of the registry (expected {})",
                path.display(),
                SECTIONS.join(", ")
            );
        }
        let at = |e: anyhow::Error| anyhow::anyhow!("{}: {e}", path.display());
        Ok(Document {
            countries: entries(&value, "countries").map_err(at)?,
            organisations: entries(&value, "organisations").map_err(at)?,
            providers: entries(&value, "providers").map_err(at)?,
            commitments: entries(&value, "capacity_commitments").map_err(at)?,
        })
    }
}

fn entries<M: Named>(document: &Value, section: &str) -> anyhow::Result<Vec<Entry<M>>> {
    let items = match document.get(section) {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(items)) => items,
        Some(_) => anyhow::bail!("{section}: expected a list"),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |e: anyhow::Error| anyhow::anyhow!("{section}[{i}].{e}");
            let message = files::from_value::<M>(item).map_err(at)?;
            let fields = files::top_level_fields::<M>(item).map_err(at)?;
            Ok(Entry {
                json: files::to_json(&message)?,
                message,
                fields,
            })
        })
        .collect()
}

/// What an import did, record by record.
#[derive(Default)]
struct Outcome {
    lines: Vec<(String, &'static str, String)>,
}

impl Outcome {
    fn note(&mut self, what: &'static str, record: String, fields: &[String]) {
        self.lines.push((record, what, fields.join(", ")));
    }

    fn count(&self, what: &str) -> usize {
        self.lines.iter().filter(|l| l.1 == what).count()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (record, what, fields) in self.lines.iter().filter(|l| l.1 != "unchanged") {
            if fields.is_empty() {
                out.push_str(&format!("{what} {record}\n"));
            } else {
                out.push_str(&format!("{what} {record}: {fields}\n"));
            }
        }
        out.push_str(&format!(
            "{} created, {} updated, {} unchanged\n",
            self.count("created"),
            self.count("updated"),
            self.count("unchanged")
        ));
        out
    }

    fn to_json(&self) -> Value {
        let changes: Vec<Value> = self
            .lines
            .iter()
            .map(|(record, what, fields)| {
                serde_json::json!({"resource": record, "outcome": what, "fields": fields})
            })
            .collect();
        serde_json::json!({
            "created": self.count("created"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "changes": changes,
        })
    }
}

/// The fields of `entry` that an import may change and that differ from `current`.
fn changed<M: Named>(
    entry: &Entry<M>,
    current: &M,
    updatable: &[&str],
) -> anyhow::Result<Vec<String>> {
    let current = files::to_json(current)?;
    Ok(entry
        .fields
        .iter()
        .filter(|f| updatable.contains(&f.as_str()))
        .filter(|f| entry.json.get(f.as_str()) != current.get(f.as_str()))
        .cloned()
        .collect())
}

fn mask(paths: &[String]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.to_vec(),
    })
}

async fn import(
    client: &mut Client,
    connection: &super::Connection,
    document: &Document,
) -> anyhow::Result<Outcome> {
    let existing = Registry::fetch(client, connection, None).await?;
    let mut outcome = Outcome::default();
    for (i, entry) in document.countries.iter().enumerate() {
        let record = format!("countries/{}", entry.message.code);
        let context = || format!("countries[{i}] ({record})");
        match existing
            .countries
            .iter()
            .find(|c| c.code == entry.message.code)
        {
            None => {
                client
                    .create_country(connection.authed(pb::CreateCountryRequest {
                        country: Some(entry.message.clone()),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("created", record, &[]);
            }
            Some(current) => {
                let fields = changed(entry, current, COUNTRY_FIELDS)?;
                if fields.is_empty() {
                    outcome.note("unchanged", record, &[]);
                    continue;
                }
                client
                    .update_country(connection.authed(pb::UpdateCountryRequest {
                        country: Some(pb::Country {
                            name: record.clone(),
                            ..entry.message.clone()
                        }),
                        update_mask: mask(&fields),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("updated", record, &fields);
            }
        }
    }
    for (i, entry) in document.organisations.iter().enumerate() {
        let record = format!("organisations/{}", entry.message.id);
        let context = || format!("organisations[{i}] ({record})");
        match existing
            .organisations
            .iter()
            .find(|o| o.id == entry.message.id)
        {
            None => {
                client
                    .create_organisation(connection.authed(pb::CreateOrganisationRequest {
                        organisation: Some(entry.message.clone()),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("created", record, &[]);
            }
            Some(current) => {
                let fields = changed(entry, current, ORGANISATION_FIELDS)?;
                if fields.is_empty() {
                    outcome.note("unchanged", record, &[]);
                    continue;
                }
                client
                    .update_organisation(connection.authed(pb::UpdateOrganisationRequest {
                        organisation: Some(pb::Organisation {
                            name: record.clone(),
                            ..entry.message.clone()
                        }),
                        update_mask: mask(&fields),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("updated", record, &fields);
            }
        }
    }
    for (i, entry) in document.providers.iter().enumerate() {
        let record = format!("providers/{}", entry.message.id);
        let context = || format!("providers[{i}] ({record})");
        match existing.providers.iter().find(|p| p.id == entry.message.id) {
            None => {
                client
                    .create_provider(connection.authed(pb::CreateProviderRequest {
                        provider: Some(entry.message.clone()),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("created", record, &[]);
            }
            Some(current) => {
                let fields = changed(entry, current, PROVIDER_FIELDS)?;
                if fields.is_empty() {
                    outcome.note("unchanged", record, &[]);
                    continue;
                }
                client
                    .update_provider(connection.authed(pb::UpdateProviderRequest {
                        provider: Some(pb::Provider {
                            name: record.clone(),
                            ..entry.message.clone()
                        }),
                        update_mask: mask(&fields),
                    })?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("updated", record, &fields);
            }
        }
    }
    for (i, entry) in document.commitments.iter().enumerate() {
        let c = &entry.message;
        let provider = super::resource("providers", &c.provider);
        let same = |e: &&pb::CapacityCommitment| {
            e.provider == provider
                && e.service == c.service
                && e.period_start == c.period_start
                && e.period_end == c.period_end
        };
        let key = format!(
            "{} {} {} to {}",
            provider,
            service_name(c.service),
            date_text(&c.period_start),
            date_text(&c.period_end)
        );
        let context = || format!("capacity_commitments[{i}] ({key})");
        match existing.commitments.iter().find(same) {
            None => {
                let created = client
                    .create_capacity_commitment(connection.authed(
                        pb::CreateCapacityCommitmentRequest {
                            capacity_commitment: Some(pb::CapacityCommitment {
                                name: String::new(),
                                provider: provider.clone(),
                                ..c.clone()
                            }),
                        },
                    )?)
                    .await
                    .map_err(server)
                    .with_context(context)?
                    .into_inner();
                outcome.note("created", created.name, &[]);
            }
            Some(current) => {
                let fields = changed(entry, current, COMMITMENT_FIELDS)?;
                if fields.is_empty() {
                    outcome.note("unchanged", current.name.clone(), &[]);
                    continue;
                }
                client
                    .update_capacity_commitment(connection.authed(
                        pb::UpdateCapacityCommitmentRequest {
                            capacity_commitment: Some(pb::CapacityCommitment {
                                name: current.name.clone(),
                                ..c.clone()
                            }),
                            update_mask: mask(&fields),
                        },
                    )?)
                    .await
                    .map_err(server)
                    .with_context(context)?;
                outcome.note("updated", current.name.clone(), &fields);
            }
        }
    }
    Ok(outcome)
}

/// The whole registry as the server holds it.
struct Registry {
    countries: Vec<pb::Country>,
    organisations: Vec<pb::Organisation>,
    providers: Vec<pb::Provider>,
    commitments: Vec<pb::CapacityCommitment>,
}

impl Registry {
    async fn fetch(
        client: &mut Client,
        connection: &super::Connection,
        provider: Option<String>,
    ) -> anyhow::Result<Registry> {
        Ok(Registry {
            countries: countries(client, connection).await?,
            organisations: organisations(client, connection).await?,
            providers: providers(client, connection).await?,
            commitments: commitments(client, connection, provider).await?,
        })
    }

    /// The export document: the `import` shape, with every field.
    fn to_json(&self) -> anyhow::Result<Value> {
        fn all<M: Named>(items: &[M]) -> anyhow::Result<Value> {
            Ok(Value::Array(
                items.iter().map(files::to_json).collect::<Result<_, _>>()?,
            ))
        }
        Ok(serde_json::json!({
            "countries": all(&self.countries)?,
            "organisations": all(&self.organisations)?,
            "providers": all(&self.providers)?,
            "capacity_commitments": all(&self.commitments)?,
        }))
    }
}

/// Every page of a list.
macro_rules! list_all {
    ($name:ident, $rpc:ident, $request:ident, $items:ident, $item:ty $(, $extra:ident)?) => {
        async fn $name(
            client: &mut Client,
            connection: &super::Connection,
            $($extra: Option<String>,)?
        ) -> anyhow::Result<Vec<$item>> {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .$rpc(connection.authed(pb::$request {
                        page_size: 100,
                        page_token,
                        $($extra: $extra.clone().unwrap_or_default(),)?
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.extend(page.$items);
                if page.next_page_token.is_empty() {
                    return Ok(all);
                }
                page_token = page.next_page_token;
            }
        }
    };
}

list_all!(
    countries,
    list_countries,
    ListCountriesRequest,
    countries,
    pb::Country
);
list_all!(
    organisations,
    list_organisations,
    ListOrganisationsRequest,
    organisations,
    pb::Organisation
);
list_all!(
    providers,
    list_providers,
    ListProvidersRequest,
    providers,
    pb::Provider
);
list_all!(
    commitments,
    list_capacity_commitments,
    ListCapacityCommitmentsRequest,
    capacity_commitments,
    pb::CapacityCommitment,
    provider
);

fn render_countries(countries: &[pb::Country]) -> String {
    let rows: Vec<[String; 5]> = countries
        .iter()
        .map(|c| {
            [
                c.code.clone(),
                super::enum_name(c.kind, |k: pb::CountryKind| k.as_str_name()).to_owned(),
                c.single_point_of_contact.clone(),
                c.required_languages.join(" "),
                c.display_name.clone(),
            ]
        })
        .collect();
    table(["CODE", "KIND", "SPOC", "LANGUAGES", "NAME"], &rows)
}

fn render_organisations(organisations: &[pb::Organisation]) -> String {
    let rows: Vec<[String; 5]> = organisations
        .iter()
        .map(|o| {
            [
                o.id.clone(),
                super::enum_name(o.kind, |k: pb::OrganisationKind| k.as_str_name()).to_owned(),
                o.country.clone(),
                if o.single_point_of_contact { "yes" } else { "" }.to_owned(),
                o.display_name.clone(),
            ]
        })
        .collect();
    table(["ID", "KIND", "COUNTRY", "SPOC", "NAME"], &rows)
}

fn render_providers(providers: &[pb::Provider]) -> String {
    let rows: Vec<[String; 6]> = providers
        .iter()
        .map(|p| {
            let services: Vec<&str> = p.services.iter().map(|s| service_name(*s)).collect();
            [
                p.id.clone(),
                super::enum_name(p.status, |s: pb::ProviderStatus| s.as_str_name()).to_owned(),
                services.join(" "),
                p.languages.join(" "),
                format!("{} h", p.hours_to_deploy),
                p.display_name.clone(),
            ]
        })
        .collect();
    table(
        [
            "ID",
            "STATUS",
            "SERVICES",
            "LANGUAGES",
            "DEPLOYS IN",
            "NAME",
        ],
        &rows,
    )
}

fn render_commitments(commitments: &[pb::CapacityCommitment]) -> String {
    let rows: Vec<[String; 8]> = commitments
        .iter()
        .map(|c| {
            [
                short(&c.name).to_owned(),
                short(&c.provider).to_owned(),
                service_name(c.service).to_owned(),
                format!(
                    "{} to {}",
                    date_text(&c.period_start),
                    date_text(&c.period_end)
                ),
                c.person_days.to_string(),
                c.held_person_days.to_string(),
                c.consumed_person_days.to_string(),
                c.free_person_days.to_string(),
            ]
        })
        .collect();
    table(
        [
            "ID", "PROVIDER", "SERVICE", "PERIOD", "DAYS", "HELD", "CONSUMED", "FREE",
        ],
        &rows,
    )
}
