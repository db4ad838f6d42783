//! Thin gRPC handlers: convert the request, take the caller from the
//! extensions the auth layer set, call one use case, convert the answer.

pub mod audit;
pub mod convert;
pub mod dispatch;
pub mod door;
pub mod provider;
pub mod registry;
pub mod support_requests;
pub mod watch;

use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::domain::actor::Actor;
use crate::domain::validation::Violations;

pub use crate::proto::reserve::v1 as pb;

impl From<AppError> for Status {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(violations) => invalid(&violations),
            AppError::NotFound(m) => Status::not_found(m),
            AppError::PermissionDenied(m) => Status::permission_denied(m),
            AppError::FailedPrecondition(m) => Status::failed_precondition(m),
            AppError::AlreadyExists(m) => Status::already_exists(m),
            AppError::Aborted(m) => Status::aborted(m),
            AppError::Database(err) => {
                tracing::error!(error = %err, "database error");
                match crate::store::classify(&err) {
                    crate::store::Failure::Unavailable => {
                        Status::unavailable("the database is unavailable; retry later")
                    }
                    crate::store::Failure::Conflict => {
                        Status::aborted("a concurrent change got in the way; read again and retry")
                    }
                    crate::store::Failure::Other => Status::internal("internal error"),
                }
            }
        }
    }
}

/// `INVALID_ARGUMENT` with a `google.rpc.BadRequest` naming each field.
pub fn invalid(violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations.iter() {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, violations.to_string(), details)
}

/// The caller, as verified by the auth layer.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("a bearer token is required"))
}

/// The id in a resource name such as `supportRequests/{id}`.
pub fn resource_id<'a>(field: &str, name: &'a str, collection: &str) -> Result<&'a str, Status> {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .ok_or_else(|| {
            invalid(&Violations::one(
                field,
                format!("must be a resource name `{collection}/{{id}}`"),
            ))
        })
}
