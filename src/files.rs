//! Messages in the proto3 JSON mapping, to and from YAML or JSON files.
//!
//! Files hold a message as the proto3 JSON mapping writes it (field names as
//! in the .proto files or in lowerCamelCase, enums by name, timestamps in RFC
//! 3339, dates as `{year, month, day}`), in YAML or JSON. They are read with
//! the descriptors the server itself was built from, so a misspelt field or
//! an unknown enum value is reported with its path before anything is sent.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;

use crate::grpc::pb;

/// A generated message with its full protobuf name.
pub trait Named: prost::Message + Default {
    const NAME: &'static str;
}

macro_rules! named {
    ($($ty:ident),+ $(,)?) => {
        $(impl Named for pb::$ty {
            const NAME: &'static str = concat!("reserve.v1.", stringify!($ty));
        })+
    };
}

named!(
    SupportRequest,
    SubmitSummaryReportRequest,
    ListSupportRequestsResponse,
    ListAssessmentQueueResponse,
    ProposeMatchesResponse,
    ApproveDispatchRequest,
    Offer,
    Agreement,
    ListOffersResponse,
    ListAssignmentsResponse,
    Country,
    Organisation,
    Provider,
    CapacityCommitment,
    ListCountriesResponse,
    ListOrganisationsResponse,
    ListProvidersResponse,
    ListCapacityCommitmentsResponse,
    ListUnusedCapacityResponse,
    AuditEvent,
    VerifyAuditChainResponse,
    Checkpoint,
    Subscription,
    ListSubscriptionsResponse,
    ListNotificationsResponse,
    Conversion,
    ListConversionsResponse,
    StoredUsageReport,
    ListUsageReportsResponse,
    ImportRegistryResponse,
);

/// The descriptors of `reserve.v1`, with their imports.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set built with the binary decodes")
    })
}

pub fn descriptor(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is in the descriptor set"))
}

/// `message` in the proto3 JSON mapping: every field, even at its default,
/// named as in the .proto file; 64-bit integers as numbers.
pub fn to_json<M: Named>(message: &M) -> anyhow::Result<Value> {
    let dynamic = DynamicMessage::decode(descriptor(M::NAME), message.encode_to_vec().as_slice())
        .context("re-reading the answer")?;
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// A YAML or JSON document (JSON is YAML, but its errors read better from
/// the JSON parser).
pub fn read_document(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: Value = if is_json {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?
    } else {
        serde_norway::from_str(&text)
            .with_context(|| format!("{} is not valid YAML", path.display()))?
    };
    anyhow::ensure!(
        value.is_object(),
        "{}: expected a mapping of field names to values",
        path.display()
    );
    Ok(value)
}

/// Reads `M` from a file in the JSON mapping.
pub fn read_message<M: Named>(path: &Path) -> anyhow::Result<M> {
    let value = read_document(path)?;
    from_value(&value).with_context(|| format!("{}", path.display()))
}

/// `M` from a value in the JSON mapping; an error names the field at fault.
pub fn from_value<M: Named>(value: &Value) -> anyhow::Result<M> {
    from_value_at(value).map_err(|(path, problem)| {
        if path.is_empty() {
            anyhow!("{problem}")
        } else {
            anyhow!("{path}: {problem}")
        }
    })
}

/// `M` from a value in the JSON mapping, or the path of the field at fault
/// (empty when it is the value as a whole) and what is wrong with it.
pub fn from_value_at<M: Named>(value: &Value) -> Result<M, (String, String)> {
    let desc = descriptor(M::NAME);
    let dynamic = match DynamicMessage::deserialize(desc.clone(), value) {
        Ok(dynamic) => dynamic,
        Err(err) => {
            return Err(locate(&desc, value, "").unwrap_or((String::new(), err.to_string())));
        }
    };
    dynamic
        .transcode_to::<M>()
        .map_err(|e| (String::new(), e.to_string()))
}

/// The deepest field of `value` that does not read as `desc` says, with the
/// reason: prost-reflect's errors do not say where they are.
fn locate(desc: &MessageDescriptor, value: &Value, prefix: &str) -> Option<(String, String)> {
    let Value::Object(fields) = value else {
        return None;
    };
    for (key, item) in fields {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let one = Value::Object([(key.clone(), item.clone())].into_iter().collect());
        let Err(err) = DynamicMessage::deserialize(desc.clone(), &one) else {
            continue;
        };
        let field = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key));
        let Some(field) = field else {
            return Some((path, "is not a field of this message".into()));
        };
        if let prost_reflect::Kind::Message(inner) = field.kind()
            && !field.is_map()
        {
            let deeper = match item {
                Value::Array(items) if field.is_list() => items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| locate(&inner, item, &format!("{path}[{i}]"))),
                _ => locate(&inner, item, &path),
            };
            if deeper.is_some() {
                return deeper;
            }
        }
        return Some((path, err.to_string()));
    }
    None
}

/// The top-level fields `value` sets, by their .proto names: an update mask.
pub fn top_level_fields<M: Named>(value: &Value) -> anyhow::Result<Vec<String>> {
    let desc = descriptor(M::NAME);
    let Value::Object(fields) = value else {
        return Ok(vec![]);
    };
    fields
        .keys()
        .map(|key| {
            desc.get_field_by_name(key)
                .or_else(|| desc.get_field_by_json_name(key))
                .map(|f| f.name().to_owned())
                .ok_or_else(|| anyhow!("{key}: is not a field of this message"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_from_yaml_with_enum_names_and_times() {
        let value: Value = serde_norway::from_str(
            "title: Ransomware\nseverity: HIGH\ndetect_time: 2026-11-26T03:10:00Z\n\
             serviceLines:\n  - service: INCIDENT_RESPONSE\n    person_days: 5\n",
        )
        .unwrap();
        let request: pb::SupportRequest = from_value(&value).unwrap();
        assert_eq!(request.severity, pb::Severity::High as i32);
        assert_eq!(request.service_lines[0].person_days, 5);
        assert!(request.detect_time.is_some());
        assert_eq!(
            top_level_fields::<pb::SupportRequest>(&value).unwrap(),
            ["detect_time", "service_lines", "severity", "title"]
        );
    }

    #[test]
    fn an_error_names_the_field_at_fault() {
        let value: Value = serde_norway::from_str(
            "title: Ransomware\nservice_lines:\n  - service: INCIDENT_RESPONSE\n  - service: FIREFIGHTING\n",
        )
        .unwrap();
        let err = from_value::<pb::SupportRequest>(&value)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("service_lines[1].service: "), "{err}");

        let value: Value = serde_norway::from_str("contact:\n  nmae: Ana\n").unwrap();
        let err = from_value::<pb::SupportRequest>(&value)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "contact.nmae: is not a field of this message");
    }

    #[test]
    fn answers_print_with_proto_field_names_and_every_field() {
        let json = to_json(&pb::SupportRequest {
            state: pb::RequestState::Draft as i32,
            version: 3,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(json["state"], "DRAFT");
        assert_eq!(json["version"], 3);
        assert_eq!(json["deadline_breached"], false);
    }
}
