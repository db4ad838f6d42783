//! The verifiable log: checkpoints and proofs checked by an independent
//! implementation (`log_verify.py`: RFC 9162's algorithms as the RFC
//! writes them, and the `cryptography` package's Ed25519), the tamper
//! cases, and who may ask for what.

use reserve_dispatch::grpc::pb;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{
    TestApp, authed, member_state_request, moldova_request, run_reserve, spawn_app, violated_fields,
};

/// The Python that runs the verifier: `RESERVE_TEST_PYTHON`, or `python3`.
fn python() -> String {
    std::env::var("RESERVE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `log_verify.py` on `input`; its answer.
fn verify_independently(input: &Value) -> Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/log_verify.py");
    let mut child = std::process::Command::new(python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (RESERVE_TEST_PYTHON names another)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "log_verify.py failed (it needs the `cryptography` package: apt install \
         python3-cryptography, or pip install cryptography): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Integrates every sealed event and signs a checkpoint when the log grew;
/// the latest checkpoint.
async fn checkpoint_now(app: &TestApp) -> pb::Checkpoint {
    // Listing settles the chain: every committed event is sealed.
    app.events("").await;
    reserve_dispatch::worker::log::pass(&app.app)
        .await
        .expect("the log integrates");
    app.audit()
        .await
        .get_checkpoint(authed(
            pb::GetCheckpointRequest::default(),
            &app.token("auditor", "oversight"),
        ))
        .await
        .expect("a checkpoint")
        .into_inner()
}

async fn inclusion(
    app: &TestApp,
    token: &str,
    sequence: i64,
    tree_size: i64,
) -> Result<pb::InclusionProof, tonic::Status> {
    app.audit()
        .await
        .get_inclusion_proof(authed(
            pb::GetInclusionProofRequest {
                sequence,
                tree_size,
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn consistency(app: &TestApp, first: i64, second: i64) -> pb::ConsistencyProof {
    app.audit()
        .await
        .get_consistency_proof(authed(
            pb::GetConsistencyProofRequest {
                first_tree_size: first,
                second_tree_size: second,
            },
            &app.token("auditor", "oversight"),
        ))
        .await
        .expect("a consistency proof")
        .into_inner()
}

fn hex_list(hashes: &[Vec<u8>]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

#[tokio::test]
async fn every_event_is_proved_in_the_latest_checkpoint_and_checkpoints_only_grow() {
    let app = spawn_app().await;
    let first = checkpoint_now(&app).await;
    assert!(first.tree_size > 0, "the demo registry's events");
    let mut checkpoints = vec![first.clone()];
    for _ in 0..3 {
        app.submit_new("ro-csirt", member_state_request("RO")).await;
        app.submit_new("md-spoc", moldova_request()).await;
        checkpoints.push(checkpoint_now(&app).await);
    }
    let latest = checkpoints.last().unwrap().clone();
    assert!(latest.tree_size > first.tree_size);
    assert!(latest.note.starts_with(&format!(
        "{}\n{}\n",
        reserve_dispatch::app::log::DEFAULT_ORIGIN,
        latest.tree_size
    )));

    let auditor = app.token("auditor", "oversight");
    let events = app.events("").await;
    let mut inclusions = Vec::new();
    for event in events.iter().filter(|e| e.sequence <= latest.tree_size) {
        let proof = inclusion(&app, &auditor, event.sequence, 0).await.unwrap();
        assert_eq!(proof.tree_size, latest.tree_size, "the latest checkpoint's");
        inclusions.push(json!({
            "event_hash": event.hash,
            "leaf_index": proof.leaf_index,
            "checkpoint": checkpoints.len() - 1,
            "hashes": hex_list(&proof.hashes),
        }));
    }
    assert_eq!(inclusions.len() as i64, latest.tree_size);
    let mut consistencies = Vec::new();
    for (i, a) in checkpoints.iter().enumerate() {
        for (j, b) in checkpoints.iter().enumerate().skip(i) {
            let proof = consistency(&app, a.tree_size, b.tree_size).await;
            consistencies.push(json!({"first": i, "second": j, "hashes": hex_list(&proof.hashes)}));
        }
    }
    let answer = verify_independently(&json!({
        "verifier_key": latest.verifier_key,
        "checkpoints": checkpoints.iter().map(|c| c.note.clone()).collect::<Vec<_>>(),
        "inclusions": inclusions,
        "consistencies": consistencies,
    }));
    for part in ["signatures", "inclusions", "consistencies"] {
        let all = answer[part].as_array().unwrap();
        assert!(
            !all.is_empty() && all.iter().all(|ok| ok == true),
            "{part}: {answer}"
        );
    }

    // The witness's export holds each checkpoint once, oldest first.
    let listed = app
        .audit()
        .await
        .list_checkpoints(authed(
            pb::ListCheckpointsRequest {
                page_size: 2,
                page_token: String::new(),
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.checkpoints.len(), 2);
    assert!(listed.checkpoints[0].tree_size < listed.checkpoints[1].tree_size);
    assert!(!listed.next_page_token.is_empty());

    // A requester proves its own request's trail with the CLI, against the
    // checkpoint it saved and the key published for the log.
    let name = app
        .submit_new("ro-csirt", member_state_request("RO"))
        .await
        .name;
    let saved = checkpoint_now(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saved.txt");
    std::fs::write(&file, &saved.note).unwrap();
    let env = [
        ("RESERVE_ADDR", format!("http://{}", app.addr)),
        ("RESERVE_TOKEN", app.token("requester", "ro-csirt")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_reserve(
        &[
            "audit",
            "prove",
            "--resource",
            &name,
            "--checkpoint",
            file.to_str().unwrap(),
            "--key",
            &saved.verifier_key,
        ],
        &env,
    )
    .await;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("SubmitSupportRequest") && printed.contains("included"),
        "{printed}"
    );
    assert!(!printed.contains("NOT INCLUDED"), "{printed}");
    let old = dir.path().join("old.txt");
    std::fs::write(&old, &first.note).unwrap();
    let out = run_reserve(
        &[
            "audit",
            "verify-checkpoint",
            old.to_str().unwrap(),
            file.to_str().unwrap(),
            "--key",
            &saved.verifier_key,
        ],
        &env,
    )
    .await;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("OK: "),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rewritten_event_fails_its_proof_and_a_rewritten_log_is_inconsistent() {
    let app = spawn_app().await;
    let name = app
        .submit_new("ro-csirt", member_state_request("RO"))
        .await
        .name;
    let before = checkpoint_now(&app).await;
    let auditor = app.token("auditor", "oversight");
    let trail = app.events(&name).await;
    let target = trail
        .iter()
        .find(|e| e.action == "SubmitSupportRequest")
        .unwrap()
        .clone();

    // The operator rewrites the event, its hash with it.
    let db = Database::connect(&app.db.url).await.unwrap();
    let mut forged = reserve_dispatch::domain::audit::AuditEvent {
        sequence: target.sequence,
        time: chrono::DateTime::from_timestamp(
            target.time.as_ref().unwrap().seconds,
            target.time.as_ref().unwrap().nanos as u32,
        )
        .unwrap(),
        actor: target.actor.clone(),
        role: target.role.clone(),
        organisation: target.organisation.clone(),
        action: target.action.clone(),
        resource: target.resource.clone(),
        from_state: target.from_state.clone(),
        to_state: target.to_state.clone(),
        payload: r#"{"rewritten":true}"#.into(),
        previous_hash: target.previous_hash.clone(),
        hash: String::new(),
    };
    forged.hash = forged.compute_hash();
    db.execute_unprepared(&format!(
        "UPDATE audit_events SET payload = '{}', hash = '{}' WHERE sequence = {}",
        forged.payload, forged.hash, target.sequence
    ))
    .await
    .unwrap();
    let proof = inclusion(&app, &auditor, target.sequence, before.tree_size)
        .await
        .unwrap();
    let answer = verify_independently(&json!({
        "verifier_key": before.verifier_key,
        "checkpoints": [before.note],
        "inclusions": [{
            "event_hash": proof.event.as_ref().unwrap().hash,
            "leaf_index": proof.leaf_index,
            "checkpoint": 0,
            "hashes": hex_list(&proof.hashes),
        }],
    }));
    assert_eq!(answer["inclusions"], json!([false]), "{answer}");

    // ... and builds the tree again from the rewritten events: the next
    // checkpoint does not extend the one a party kept.
    db.execute_unprepared("DELETE FROM audit_tree_nodes")
        .await
        .unwrap();
    db.execute_unprepared(
        "UPDATE audit_tree_head SET size = 0, \
         root = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
    )
    .await
    .unwrap();
    db.close().await.ok();
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    let after = checkpoint_now(&app).await;
    assert!(after.tree_size > before.tree_size);
    let proof = consistency(&app, before.tree_size, after.tree_size).await;
    let answer = verify_independently(&json!({
        "verifier_key": after.verifier_key,
        "checkpoints": [before.note, after.note],
        "consistencies": [{"first": 0, "second": 1, "hashes": hex_list(&proof.hashes)}],
    }));
    assert_eq!(answer["signatures"], json!([true, true]), "{answer}");
    assert_eq!(answer["consistencies"], json!([false]), "{answer}");

    // The CLI says so too.
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.txt"), dir.path().join("new.txt"));
    std::fs::write(&old, &before.note).unwrap();
    std::fs::write(&new, &after.note).unwrap();
    let env = [
        ("RESERVE_ADDR", format!("http://{}", app.addr)),
        ("RESERVE_TOKEN", auditor.clone()),
        ("RESERVE_LOG_KEY", after.verifier_key.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_reserve(
        &[
            "audit",
            "verify-checkpoint",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("INCONSISTENT"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_reserve(
        &[
            "audit",
            "prove",
            "--resource",
            &name,
            "--checkpoint",
            old.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NOT INCLUDED"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_proof_is_given_only_of_an_event_the_caller_may_see() {
    let app = spawn_app().await;
    let own = app
        .submit_new("ro-csirt", member_state_request("RO"))
        .await
        .name;
    let other = app.submit_new("md-spoc", moldova_request()).await.name;
    let checkpoint = checkpoint_now(&app).await;
    let of = |name: &str, events: &[pb::AuditEvent]| {
        events
            .iter()
            .find(|e| e.resource == name)
            .expect("an event of the request")
            .sequence
    };
    let events = app.events("").await;
    let requester = app.token("requester", "ro-csirt");
    let proof = inclusion(&app, &requester, of(&own, &events), 0)
        .await
        .expect("its own event");
    assert_eq!(proof.tree_size, checkpoint.tree_size);
    assert_eq!(proof.event.unwrap().resource, own);
    let hidden = inclusion(&app, &requester, of(&other, &events), 0)
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let missing = inclusion(&app, &requester, 999_999, 0).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        hidden
            .message()
            .replace(&of(&other, &events).to_string(), "N"),
        missing.message().replace("999999", "N"),
        "hidden reads as missing"
    );

    let invalid = inclusion(&app, &requester, 0, -1).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["sequence", "tree_size"]);
    let beyond = inclusion(
        &app,
        &requester,
        of(&own, &events),
        checkpoint.tree_size + 1_000,
    )
    .await
    .unwrap_err();
    assert_eq!(beyond.code(), Code::FailedPrecondition);
    let reversed = app
        .audit()
        .await
        .get_consistency_proof(authed(
            pb::GetConsistencyProofRequest {
                first_tree_size: 5,
                second_tree_size: 3,
            },
            &requester,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&reversed), ["first_tree_size"]);
    app.stop().await;
}
