//! The registry file: YAML or JSON with up to four lists, `countries`,
//! `organisations`, `providers` and `capacity_commitments`, each record in
//! the proto3 JSON mapping of its message (see examples/registry.yaml).
//! Every door reads it here: the `ImportRegistry` RPC (to which
//! `reserve registry import` sends the file's text) and the console's
//! import form; `app::registry_import` then takes it whole or not at all.

use serde_json::Value;

use crate::domain::command::registry::{Imported, RegistryImport};
use crate::domain::validation::Violations;
use crate::files::{self, Named};
use crate::grpc::{convert, pb};

/// The parts of the file, in the order they are imported.
pub const SECTIONS: [&str; 4] = [
    "countries",
    "organisations",
    "providers",
    "capacity_commitments",
];

/// `text` read as a registry file; a refusal names the record and field
/// at fault (`providers[2].services[0]`), or `document`.
pub fn read(text: &str) -> Result<RegistryImport, Violations> {
    RegistryImport::check_size(text.trim().len(), 0)?;
    let value: Value = serde_norway::from_str(text)
        .map_err(|e| Violations::one("document", format!("is not valid YAML or JSON: {e}")))?;
    let Value::Object(sections) = &value else {
        return Err(Violations::one(
            "document",
            format!("must be a mapping with the lists {}", SECTIONS.join(", ")),
        ));
    };
    let records = SECTIONS
        .iter()
        .filter_map(|s| sections.get(*s).and_then(Value::as_array))
        .map(Vec::len)
        .sum();
    RegistryImport::check_size(text.len(), records)?;
    let mut v = Violations::new();
    for unknown in sections.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
        v.add(
            unknown.clone(),
            format!(
                "is not a part of the registry (expected {})",
                SECTIONS.join(", ")
            ),
        );
    }
    let file = RegistryImport {
        countries: entries::<pb::Country, _>(&value, SECTIONS[0], &mut v, convert::country_fields),
        organisations: entries::<pb::Organisation, _>(
            &value,
            SECTIONS[1],
            &mut v,
            convert::organisation_fields,
        ),
        providers: entries::<pb::Provider, _>(
            &value,
            SECTIONS[2],
            &mut v,
            convert::provider_fields,
        ),
        commitments: entries::<pb::CapacityCommitment, _>(
            &value,
            SECTIONS[3],
            &mut v,
            convert::commitment_fields,
        ),
    };
    capped(v).finish(())?;
    Ok(file)
}

/// Most refusals answered for one file: a file wrong throughout is
/// answered with its first refusals, not a list larger than the file.
pub const MAX_REFUSALS: usize = 100;

fn capped(v: Violations) -> Violations {
    let all = v.iter().count();
    if all <= MAX_REFUSALS {
        return v;
    }
    let mut first = Violations::new();
    for x in v.iter().take(MAX_REFUSALS) {
        first.add(x.field.clone(), x.description.clone());
    }
    first.add(
        "document",
        format!(
            "and {} more refusals not listed: correct these first",
            all - MAX_REFUSALS
        ),
    );
    first
}

/// The records of one part of the file, each read as `M` and given to the
/// domain as its fields.
fn entries<M: Named, F>(
    document: &Value,
    section: &str,
    v: &mut Violations,
    fields: impl Fn(&M) -> F,
) -> Vec<Imported<F>> {
    let items = match document.get(section) {
        None | Some(Value::Null) => return vec![],
        Some(Value::Array(items)) => items,
        Some(_) => {
            v.add(section, "must be a list");
            return vec![];
        }
    };
    let mut read = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{section}[{i}]");
        let message = match files::from_value_at::<M>(item) {
            Ok(message) => message,
            Err((path, problem)) => {
                let field = if path.is_empty() {
                    at
                } else {
                    format!("{at}.{path}")
                };
                v.add(field, problem);
                continue;
            }
        };
        match files::top_level_fields::<M>(item) {
            Ok(set) => read.push(Imported {
                at,
                record: fields(&message),
                set,
            }),
            Err(e) => v.add(at, e.to_string()),
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::registry::IMPORT_BYTES;

    #[test]
    fn a_file_reads_with_the_fields_it_sets() {
        let file = read(
            "countries:\n  - code: MD\n    display_name: Moldova\n    kind: THIRD_COUNTRY\n\
             capacity_commitments:\n  - provider: providers/nordic-ir\n    service: INCIDENT_RESPONSE\n    person_days: 40\n",
        )
        .unwrap();
        assert_eq!(file.countries.len(), 1);
        assert_eq!(file.countries[0].at, "countries[0]");
        assert_eq!(file.countries[0].set, ["code", "display_name", "kind"]);
        assert_eq!(file.countries[0].record.code, "MD");
        assert_eq!(file.commitments[0].set.len(), 3);
        assert!(file.organisations.is_empty() && file.providers.is_empty());
    }

    #[test]
    fn json_reads_as_yaml_does() {
        let json =
            read(r#"{"providers": [{"id": "nordic-ir", "hoursToDeploy": 20}], "countries": null}"#)
                .unwrap();
        let yaml = read("providers:\n  - id: nordic-ir\n    hours_to_deploy: 20\n").unwrap();
        assert_eq!(json, yaml, "the JSON mapping's lowerCamelCase names too");
    }

    #[test]
    fn a_refusal_names_the_record_and_field() {
        let refused = |text: &str| -> Vec<String> {
            read(text)
                .unwrap_err()
                .iter()
                .map(|v| v.field.clone())
                .collect()
        };
        assert_eq!(
            refused("providers:\n  - id: a\n  - id: b\n    services: [NOT_A_SERVICE]\n"),
            ["providers[1].services"]
        );
        assert_eq!(
            refused("countries:\n  - code: MD\n    nmae: x\n"),
            ["countries[0].nmae"]
        );
        assert_eq!(refused("provders: []\n"), ["provders"]);
        assert_eq!(refused("countries: MD\n"), ["countries"]);
        assert_eq!(refused("- a\n- b\n"), ["document"]);
        assert_eq!(refused("countries: [\n"), ["document"]);
        assert_eq!(refused("  \n"), ["document"]);
        let large = format!("countries: []\n{}", "#".repeat(IMPORT_BYTES));
        assert_eq!(refused(&large), ["document"]);
        let many = format!("countries:\n{}", "- {nmae: x}\n".repeat(5_001));
        assert_eq!(refused(&many), ["document"], "counted before it is read");
        let wrong = format!("countries:\n{}", "- {nmae: x}\n".repeat(500));
        let fields = refused(&wrong);
        assert_eq!(fields.len(), MAX_REFUSALS + 1);
        assert_eq!(fields[0], "countries[0].nmae");
        assert_eq!(fields[MAX_REFUSALS], "document");
    }
}
