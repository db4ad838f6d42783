use tonic::{Code, Request};

use crate::helpers::{AUDIENCE, ISSUER, authed, create, moldova_request, spawn_app};
use reserve_dispatch::auth::claims_for;
use reserve_dispatch::grpc::pb;

#[tokio::test]
async fn tokens_that_are_missing_or_wrong_are_unauthenticated() {
    let app = spawn_app().await;
    let mut client = app.requests().await;
    let list = pb::ListSupportRequestsRequest::default;

    let none = client
        .list_support_requests(Request::new(list()))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);

    let mut expired = claims_for("requester", "md-spoc", "alice", ISSUER, AUDIENCE, 600);
    expired.exp = jsonwebtoken::get_current_timestamp() - 3600;
    expired.nbf = Some(expired.exp - 600);
    let mut not_yet = claims_for("requester", "md-spoc", "alice", ISSUER, AUDIENCE, 7200);
    not_yet.nbf = Some(jsonwebtoken::get_current_timestamp() + 3600);
    let wrong_audience = claims_for("requester", "md-spoc", "alice", ISSUER, "someone-else", 600);
    let wrong_issuer = claims_for(
        "requester",
        "md-spoc",
        "alice",
        "evil-issuer",
        AUDIENCE,
        600,
    );
    let unknown_role = claims_for("superuser", "md-spoc", "alice", ISSUER, AUDIENCE, 600);
    // The service's own role is carried by no token.
    let service_role = claims_for("service", "system", "timer", ISSUER, AUDIENCE, 600);
    let good = claims_for("requester", "md-spoc", "alice", ISSUER, AUDIENCE, 600);

    let cases = [
        ("expired", app.sign(&expired)),
        ("not yet valid", app.sign(&not_yet)),
        ("wrong audience", app.sign(&wrong_audience)),
        ("wrong issuer", app.sign(&wrong_issuer)),
        ("unknown role", app.sign(&unknown_role)),
        ("the service's role", app.sign(&service_role)),
        ("bad signature", app.sign_untrusted(&good)),
        ("garbage", "not.a.jwt".to_owned()),
        ("alg none", unsigned(&good)),
    ];
    for (case, token) in cases {
        let status = client
            .list_support_requests(authed(list(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert!(!status.message().contains("md-spoc"), "{case}");
    }

    // `sub` and `org` end up in the audit trail: they must be printable.
    let mut control = claims_for("requester", "md-spoc", "alice\u{0}", ISSUER, AUDIENCE, 600);
    let status = client
        .list_support_requests(authed(list(), &app.sign(&control)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    control.sub = "alice".into();
    control.org = "md spoc".into();
    let status = client
        .list_support_requests(authed(list(), &app.sign(&control)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // Several audiences, ours among them, are accepted.
    let mut audiences = claims_for("requester", "md-spoc", "alice", ISSUER, AUDIENCE, 600);
    audiences.aud =
        reserve_dispatch::auth::Audience::Many(vec!["other-api".into(), AUDIENCE.into()]);
    client
        .list_support_requests(authed(list(), &app.sign(&audiences)))
        .await
        .expect("aud array");

    // Algorithm confusion: HS256 with the server's public key as the secret.
    let public_pem = std::fs::read(&app.keys.public_pem_path).unwrap();
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    // A key id no trusted key has.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("unknown-key".into());
    let unknown_kid = jsonwebtoken::encode(&header, &good, &app.keys.trusted).unwrap();
    // A validly signed token whose payload is swapped for another role's.
    let signed = app.sign(&good);
    let parts: Vec<&str> = signed.split('.').collect();
    let mut admin = good.clone();
    admin.role = "admin".into();
    let forged_body = {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap())
    };
    let tampered = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
    let truncated = signed[..signed.len() - 10].to_owned();
    let mut huge = good.clone();
    huge.sub = "x".repeat(64 * 1024);
    let oversized = app.sign(&huge);
    for (case, token) in [
        ("algorithm confusion", confused),
        ("unknown kid", unknown_kid),
        ("tampered payload", tampered),
        ("truncated", truncated),
        ("64 KiB token", oversized),
    ] {
        let status = client
            .list_support_requests(authed(list(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
    }

    // The same claims, properly signed, pass.
    client
        .list_support_requests(authed(list(), &app.sign(&good)))
        .await
        .expect("valid token");
    app.stop().await;
}

/// A token with `alg: none` and no signature.
fn unsigned(claims: &reserve_dispatch::auth::Claims) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{body}.")
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = spawn_app().await;
    let mut client = app.requests().await;
    for role in ["provider", "duty_officer", "commission", "auditor", "admin"] {
        let status = client
            .create_support_request(authed(
                create(moldova_request(), "x"),
                &app.token(role, "md-spoc"),
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    // A requester whose organisation the Reserve does not know.
    let status = client
        .create_support_request(authed(
            create(moldova_request(), "x"),
            &app.token("requester", "unknown-org"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Nothing was written.
    let listed = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest::default(),
            &app.token("auditor", "o"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.support_requests.is_empty());
    app.stop().await;
}
