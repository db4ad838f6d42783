//! `reserve registry`: administrators import, export and list the registry.
//!
//! The file is YAML (or JSON) with up to four lists, each entry in the proto3
//! JSON mapping of its message: `countries`, `organisations`, `providers` and
//! `capacity_commitments` (see examples/registry.yaml). Import creates what is
//! missing and updates what differs, field by field, so it can be run twice;
//! `export` writes the same shape, so export then import changes nothing.
//! Countries are identified by `code`, organisations and providers by `id`,
//! commitments by provider, service and period (their ids are the server's).
//! The server reads the file (`ImportRegistry`, the same reader as the
//! console's import form) and takes it whole or not at all.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;
use tonic::transport::Channel;

use super::{ClientArgs, date_text, files, print, server, service_name, short, table};
use crate::grpc::pb;
use files::Named;

type Client = pb::registry_service_client::RegistryServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Create what the file holds and is missing, update what differs.
    Import {
        file: PathBuf,
        /// Check the file and print what it would change, changing nothing.
        #[arg(long)]
        validate_only: bool,
    },
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

pub async fn run(args: ClientArgs, command: RegistryCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    match command {
        RegistryCommand::Import {
            file,
            validate_only,
        } => {
            let document = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut client = Client::new(connection.channel().await?);
            let outcome = client
                .import_registry(connection.authed(pb::ImportRegistryRequest {
                    document,
                    validate_only,
                })?)
                .await
                .map_err(server)
                .with_context(|| format!("{} was not imported", file.display()))?
                .into_inner();
            print(args.output, &outcome, render_import)
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

/// What an import did: the records changed, then the counts.
fn render_import(outcome: &pb::ImportRegistryResponse) -> String {
    let mut out = String::new();
    for change in &outcome.changes {
        let what = match pb::ImportOutcome::try_from(change.outcome) {
            Ok(pb::ImportOutcome::Created) => "created",
            Ok(pb::ImportOutcome::Updated) => "updated",
            _ => continue,
        };
        if change.updated_fields.is_empty() {
            out.push_str(&format!("{what} {}\n", change.resource));
        } else {
            out.push_str(&format!(
                "{what} {}: {}\n",
                change.resource,
                change.updated_fields.join(", ")
            ));
        }
    }
    out.push_str(&format!(
        "{} created, {} updated, {} unchanged\n",
        outcome.created_count, outcome.updated_count, outcome.unchanged_count
    ));
    out
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
