//! reserve-dispatch: the request-and-dispatch service of the EU Cybersecurity
//! Reserve (Regulation (EU) 2025/38, the Cyber Solidarity Act).
//!
//! Layout, from the wire inwards:
//!
//! - `grpc`: thin handlers; a message becomes a command's raw fields in
//!   `grpc::convert`, one mapping of errors to status codes.
//! - `auth`: JWT verification as a tower layer; the caller lands in the
//!   request's extensions.
//! - `app`: use cases, one function per user action, each one transaction
//!   with its audit event.
//! - `domain`: pure types, states and rules; the commands, whose constructors
//!   check every door's input (`domain::command`).
//! - `store`: sea-orm entities and queries, the only place that knows SQL.
//! - `server`, `startup`, `config`, `cli`: assembly and the `reserve` binary.

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod domain;
pub mod files;
pub mod grpc;
pub mod limits;
pub mod metrics;
pub mod observe;
pub mod registry_file;
pub mod seed;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod worker;

/// Code generated from `proto/` by `build.rs`.
pub mod proto {
    pub mod google {
        pub mod r#type {
            tonic::include_proto!("google.r#type");
        }
    }
    pub mod reserve {
        pub mod v1 {
            tonic::include_proto!("reserve.v1");
        }
    }
    /// Descriptor set served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("reserve_descriptor");
}
