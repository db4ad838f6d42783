//! Thin gRPC handlers: take the caller from the extensions the auth layer
//! set and check its role may call the RPC at all (before anything it sent
//! is read, AIP-211), convert the message into a command's raw fields and
//! call the command's constructor, call one use case, convert the answer.

pub mod audit;
pub mod convert;
pub mod dispatch;
pub mod door;
pub mod preparedness;
pub mod provider;
pub mod registry;
pub mod support_requests;
pub mod watch;

use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::domain::actor::{Actor, Operation};
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

impl From<Violations> for Status {
    fn from(violations: Violations) -> Self {
        invalid(&violations)
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

/// The caller, if its role may do `operation` at all: the first step of
/// every handler, before the message is read.
pub fn caller<T>(request: &Request<T>, operation: Operation) -> Result<Actor, Status> {
    let actor = actor(request)?;
    actor.permit(operation).map_err(AppError::from)?;
    Ok(actor)
}
