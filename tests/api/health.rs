//! `reserve health`, as a container's health check runs it: exit 0 when the
//! server is serving, 1 for a closed port, a silent peer or an unknown service.

use crate::helpers::{run_reserve, spawn_app};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_serving_server_is_healthy() {
    let app = spawn_app().await;
    let addr = format!("http://{}", app.addr);
    let run = run_reserve(&["health", "--addr", &addr], &[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), format!("{addr}: SERVING\n"));

    // As in the image: no --addr, the serve address on every interface.
    let listen = format!("0.0.0.0:{}", app.addr.port());
    let run = run_reserve(&["health"], &[("RESERVE_LISTEN_ADDR", &listen)]).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout),
        format!("http://127.0.0.1:{}: SERVING\n", app.addr.port())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_unhealthy() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let addr = format!("http://{closed}");
    let run = run_reserve(&["health", "--addr", &addr], &[]).await;
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty());
    let stderr = text(&run.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot reach {addr}")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_peer_that_never_answers_is_unhealthy_after_the_timeout() {
    // Connections are queued by the kernel but never served.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let run = run_reserve(&["health", "--addr", &addr, "--timeout", "0.5"], &[]).await;
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        text(&run.stderr),
        format!("error: {addr}: no answer within 0.5s\n")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(silent);
}

#[tokio::test]
async fn an_unknown_service_is_unhealthy_with_exit_code_1() {
    let app = spawn_app().await;
    let addr = format!("http://{}", app.addr);
    let run = run_reserve(
        &["health", "--addr", &addr, "--service", "no.such.Service"],
        &[],
    )
    .await;
    // Not 10 + NOT_FOUND, as other client commands answer: a health check is 0 or 1.
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(
        stderr.starts_with(&format!("error: {addr}: NOT_FOUND")),
        "{stderr}"
    );
    app.stop().await;
}
