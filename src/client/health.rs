//! `reserve health`: asks a server's `grpc.health.v1.Health` whether it is
//! serving, for a container's health check or a script. Exit 0 when it is,
//! 1 otherwise: unreachable, no answer in time, or any answer but SERVING.
//! It speaks plain HTTP/2, as the kubelet's gRPC probe does.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Server to ask [default: the address `serve` listens on in the
    /// configuration, on loopback when that is every interface].
    #[arg(long)]
    pub addr: Option<String>,
    /// The service to ask about [default: the whole server].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub service: String,
    /// Seconds to wait for the answer, connecting included.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
}

pub async fn run(args: HealthArgs, config: Option<&PathBuf>) -> anyhow::Result<()> {
    let addr = match args.addr {
        Some(addr) => addr,
        None => format!("http://{}", reachable(Settings::listen_addr(config)?)),
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            super::UsageError("--timeout must be a positive number of seconds".into())
        })?;
    let status = tokio::time::timeout(timeout, ask(&addr, &args.service))
        .await
        .map_err(|_| anyhow::anyhow!("{addr}: no answer within {}s", args.timeout))??;
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{addr}: {}",
        status.as_str_name()
    );
    println!("{addr}: SERVING");
    Ok(())
}

async fn ask(addr: &str, service: &str) -> anyhow::Result<ServingStatus> {
    let channel = Channel::from_shared(addr.to_owned())
        .context("invalid server address")?
        .connect()
        .await
        .with_context(|| format!("cannot reach {addr}"))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        // The server's answer, but not its exit code: anything but SERVING is 1.
        .map_err(|status| anyhow::anyhow!("{addr}: {}", super::describe(&status)))?;
    Ok(ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown))
}

/// Where a client reaches a server listening on `addr`: a server on every
/// interface (`0.0.0.0`, `::`) is asked on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => (Ipv4Addr::LOCALHOST, a.port()).into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => (Ipv6Addr::LOCALHOST, a.port()).into(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_server_on_every_interface_is_asked_on_loopback() {
        for (listen, asked) in [
            ("0.0.0.0:50051", "127.0.0.1:50051"),
            ("[::]:50051", "[::1]:50051"),
            ("10.1.2.3:50051", "10.1.2.3:50051"),
        ] {
            assert_eq!(super::reachable(listen.parse().unwrap()).to_string(), asked);
        }
    }
}
