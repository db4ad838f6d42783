//! Settings as an orchestrator gives them: the database URL in a mounted
//! file named by `RESERVE_DATABASE_URL_FILE`, read through the binary.

use crate::helpers::run_reserve;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_database_url_is_read_from_the_file_the_environment_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reserve.db");
    let secret = dir.path().join("database-url");
    // As `kubectl create secret --from-file` leaves it: a line break at the end.
    std::fs::write(&secret, format!("sqlite://{}?mode=rwc\n", db.display())).unwrap();
    let secret = secret.to_str().unwrap();
    let env = [("RESERVE_DATABASE_URL_FILE", secret)];

    let run = run_reserve(&["migrate", "up"], &env).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(db.exists(), "the database is the one the file names");
    let run = run_reserve(&["migrate", "status"], &env).await;
    let status = text(&run.stdout);
    assert!(
        status.contains("applied") && !status.contains("pending"),
        "{status}"
    );

    // A URL beside its file is refused, not silently preferred.
    let url = format!("sqlite://{}/other.db?mode=rwc", dir.path().display());
    let both = [env[0], ("RESERVE_DATABASE_URL", url.as_str())];
    let run = run_reserve(&["migrate", "up"], &both).await;
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("both set"),
        "{}",
        text(&run.stderr)
    );
}

#[tokio::test]
async fn an_unreadable_database_url_file_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent");
    let absent = absent.to_str().unwrap();
    let run = run_reserve(&["serve"], &[("RESERVE_DATABASE_URL_FILE", absent)]).await;
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("database_url_file") && stderr.contains(absent),
        "{stderr}"
    );
}
