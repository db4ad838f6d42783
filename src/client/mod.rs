//! Client subcommands of `reserve`: a person's view of the API.
//!
//! One file per area: `requests` (requesters), `decide` and `dispatch` (duty
//! and Commission officers), `provider` (offers and assignments), `registry`
//! (administrators), `audit` (auditors), `reports` (capacity and usage),
//! `preparedness` (conversions of unused capacity).
//! This module holds what they share: the connection, the output format,
//! files in the proto3 JSON mapping, and errors with the exit codes scripts
//! rely on.

pub mod audit;
pub mod decide;
pub mod dispatch;
pub use crate::files;
pub mod health;
pub mod preparedness;
pub mod provider;
pub mod registry;
pub mod reports;
pub mod requests;

use anyhow::Context;
use tonic::{Request, transport::Channel};

use crate::grpc::pb;

pub use reports::{
    CapacityCommand, UsageArgs, UsageCommand, capacity, render_unused, usage, usage_csv, usage_json,
};
pub use requests::render;

/// Exit codes, as documented in `reserve --help` and the README.
pub const EXIT_HELP: &str = "\
Exit codes:
  0        success
  1        a local error: a file unreadable or malformed, the server unreachable
           (and `audit verify`: the chain is broken)
  2        command-line usage
  10 + c   the server answered with gRPC status code c: 13 INVALID_ARGUMENT,
           15 NOT_FOUND, 16 ALREADY_EXISTS, 17 PERMISSION_DENIED,
           19 FAILED_PRECONDITION, 20 ABORTED, 24 UNAVAILABLE, 26 UNAUTHENTICATED";

/// Where and as whom to call.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Server address.
    #[arg(
        long,
        env = "RESERVE_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub addr: String,
    /// Bearer token (see `reserve token`).
    #[arg(long, env = "RESERVE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify the server with; connects with TLS.
    #[arg(long, env = "RESERVE_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    #[arg(long, env = "RESERVE_CERT_FILE", requires = "key_file", global = true)]
    pub cert_file: Option<std::path::PathBuf>,
    #[arg(long, env = "RESERVE_KEY_FILE", requires = "cert_file", global = true)]
    pub key_file: Option<std::path::PathBuf>,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables and lines for people.
    Table,
    /// The answer in the proto3 JSON mapping (field names as in the .proto files).
    Json,
}

/// The connection and the output format of a client command.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
}

/// An error answered by the server: exit code 10 + its gRPC code.
#[derive(Debug)]
pub struct ServerError(pub tonic::Status);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

impl std::error::Error for ServerError {}

/// A command line that cannot be run as given: exit code 2, as clap's own.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps a failed call so that its code becomes the exit code.
pub fn server(status: tonic::Status) -> anyhow::Error {
    ServerError(status).into()
}

/// The process exit code for an error: 10 + the gRPC code for the server's
/// answers, 2 for usage, 1 for everything local.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(ServerError(status)) = err.downcast_ref::<ServerError>() {
        10 + status.code() as u8
    } else if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// The canonical name of a gRPC code, as in `google.rpc.Code`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One line for a failed call: the code, then each field at fault with what
/// is wrong with it, or the message when no field is named.
pub fn describe(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect()
        })
        .unwrap_or_default();
    let detail = if fields.is_empty() {
        status.message().replace('\n', " ")
    } else {
        fields.join("; ")
    };
    format!("{}: {}", code_name(status.code()), detail)
}

impl Connection {
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let mut endpoint =
            Channel::from_shared(self.addr.clone()).context("invalid server address")?;
        if let Some(ca) = &self.ca_file {
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
                tls = tls.identity(tonic::transport::Identity::from_pem(
                    read(cert)?,
                    read(key)?,
                ));
            }
            endpoint = endpoint.tls_config(tls).context("invalid TLS settings")?;
        }
        endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach {}", self.addr))
    }

    /// The message with the caller's bearer token.
    pub fn authed<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let token = self.token.as_deref().ok_or_else(|| {
            UsageError("no token: pass --token or set RESERVE_TOKEN (see `reserve token`)".into())
        })?;
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .context("the token is not printable")?,
        );
        Ok(request)
    }
}

/// A resource name from what a person types: `supportRequests/…` as given,
/// or a bare id completed with the collection.
pub fn resource(collection: &str, given: &str) -> String {
    if given.contains('/') {
        given.to_owned()
    } else {
        format!("{collection}/{given}")
    }
}

/// A request's resource name from what a person types: its name, its id, or
/// its reference (`CSR-2026-000001`), looked up among the requests the caller
/// may see.
pub async fn request_name(connection: &Connection, given: &str) -> anyhow::Result<String> {
    if !given.starts_with("CSR-") {
        return Ok(resource("supportRequests", given));
    }
    let mut client = pb::support_request_service_client::SupportRequestServiceClient::new(
        connection.channel().await?,
    );
    let mut page_token = String::new();
    loop {
        let page = client
            .list_support_requests(connection.authed(pb::ListSupportRequestsRequest {
                page_size: 100,
                page_token,
                state: 0,
            })?)
            .await
            .map_err(server)?
            .into_inner();
        if let Some(found) = page.support_requests.iter().find(|r| r.reference == given) {
            return Ok(found.name.clone());
        }
        if page.next_page_token.is_empty() {
            return Err(server(tonic::Status::not_found(format!(
                "no request you may see has the reference {given}"
            ))));
        }
        page_token = page.next_page_token;
    }
}

/// The last segment of a resource name, for narrow table columns.
pub fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Prints `message` in the JSON mapping.
pub fn print_json<M: files::Named>(message: &M) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&files::to_json(message)?)?
    );
    Ok(())
}

/// Prints `message` as JSON or as the text `render` makes of it.
pub fn print<M: files::Named>(
    format: Format,
    message: &M,
    render: impl FnOnce(&M) -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(message),
        Format::Table => {
            print!("{}", render(message));
            Ok(())
        }
    }
}

pub fn enum_name<E: TryFrom<i32>>(value: i32, name: impl Fn(E) -> &'static str) -> &'static str {
    E::try_from(value).map(name).unwrap_or("?")
}

pub fn state_name(state: i32) -> &'static str {
    enum_name(state, |s: pb::RequestState| s.as_str_name())
}

pub fn service_name(service: i32) -> &'static str {
    enum_name(service, |s: pb::ServiceType| s.as_str_name())
}

pub fn offer_state_name(state: i32) -> &'static str {
    enum_name(state, |s: pb::OfferState| s.as_str_name())
}

pub fn timestamp_text(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn date_text(d: &Option<crate::proto::google::r#type::Date>) -> String {
    d.as_ref()
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_default()
}

/// Left-aligned columns; the last column is not padded.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns_columns() {
        let rows = [
            [
                "CSA-USER".to_owned(),
                "Art. 14(3)".to_owned(),
                "PASS".to_owned(),
                "ok".to_owned(),
            ],
            [
                "CSA-TC-COUNCIL".to_owned(),
                "Art. 19(4)".to_owned(),
                "FAIL".to_owned(),
                "none".to_owned(),
            ],
        ];
        let out = super::table(["RULE", "ARTICLE", "OUTCOME", "MESSAGE"], &rows);
        assert_eq!(
            out,
            "RULE            ARTICLE     OUTCOME  MESSAGE\n\
             CSA-USER        Art. 14(3)  PASS     ok\n\
             CSA-TC-COUNCIL  Art. 19(4)  FAIL     none\n"
        );
    }

    #[test]
    fn a_field_violation_reads_as_one_line_with_its_field() {
        use tonic_types::{ErrorDetails, StatusExt};
        let mut details = ErrorDetails::new();
        details
            .add_bad_request_violation("support_request.detect_time", "must not be in the future");
        let status =
            tonic::Status::with_error_details(tonic::Code::InvalidArgument, "invalid", details);
        assert_eq!(
            super::describe(&status),
            "INVALID_ARGUMENT: support_request.detect_time: must not be in the future"
        );
        let err = super::server(status);
        assert_eq!(super::exit_code(&err), 13);
    }

    #[test]
    fn exit_codes_follow_the_status_code() {
        let code = |c| super::exit_code(&super::server(tonic::Status::new(c, "x")));
        assert_eq!(code(tonic::Code::NotFound), 15);
        assert_eq!(code(tonic::Code::PermissionDenied), 17);
        assert_eq!(code(tonic::Code::FailedPrecondition), 19);
        assert_eq!(code(tonic::Code::Unavailable), 24);
        assert_eq!(super::exit_code(&anyhow::anyhow!("local")), 1);
    }
}
