//! TLS and mutual TLS: with client certificates required, a client without
//! one is refused.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::helpers::{Keys, TestDb, spawn_with};
use reserve_dispatch::server::tls_config;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, issuer: Option<&CertifiedIssuer<'_, KeyPair>>| {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(names).unwrap();
        let cert = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf(vec!["localhost".into()], Some(&ca)),
        client: leaf(vec!["duty-console".into()], Some(&ca)),
        stranger: leaf(vec!["stranger".into()], None),
    }
}

async fn health(port: u16, tls: Option<ClientTlsConfig>) -> Result<i32, String> {
    let mut endpoint = Channel::from_shared(format!("https://localhost:{port}")).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    } else {
        endpoint = Channel::from_shared(format!("http://localhost:{port}")).unwrap();
    }
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = pki();
    let tls = tls_config(
        pki.server.0.as_bytes(),
        pki.server.1.as_bytes(),
        Some(pki.ca_pem.as_bytes()),
    );
    let app = spawn_with(
        Arc::new(TestDb::fresh().await),
        Arc::new(Keys::new()),
        Some(tls),
    )
    .await;
    let port = app.addr.port();
    let trust = || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem));

    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let with_cert = trust().identity(Identity::from_pem(&pki.client.0, &pki.client.1));
    assert_eq!(health(port, Some(with_cert)).await, Ok(serving));
    assert!(
        health(port, Some(trust())).await.is_err(),
        "no client certificate"
    );
    let stranger = trust().identity(Identity::from_pem(&pki.stranger.0, &pki.stranger.1));
    assert!(
        health(port, Some(stranger)).await.is_err(),
        "a certificate of another CA"
    );
    assert!(health(port, None).await.is_err(), "plaintext");
    app.stop().await;
}

#[tokio::test]
async fn tls_without_client_certificates() {
    let pki = pki();
    let tls = tls_config(pki.server.0.as_bytes(), pki.server.1.as_bytes(), None);
    let app = spawn_with(
        Arc::new(TestDb::fresh().await),
        Arc::new(Keys::new()),
        Some(tls),
    )
    .await;
    let port = app.addr.port();
    let trust = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem));
    assert!(health(port, Some(trust)).await.is_ok());
    let wrong = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.stranger.0));
    assert!(
        health(port, Some(wrong)).await.is_err(),
        "an untrusted server certificate"
    );
    app.stop().await;
}
