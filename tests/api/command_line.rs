//! The binary itself: configuration errors, help, and the admin subcommand.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{PASSWORD, on_postgres, spawn_on, test_settings};

fn keyward() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYWARD_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn a_bad_variable_ends_with_one_line_naming_it_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("KEYWARD_BIND", "not-an-address"),
        ("KEYWARD_DATABASE_URL", "mysql://nope"),
        ("KEYWARD_PUBLIC_URL", "keys.example.com"),
        ("KEYWARD_SECRET_KEY", "too-short"),
        ("KEYWARD_SESSION_IDLE_MINUTES", "-5"),
        ("KEYWARD_USAGE", "sometimes"),
        ("KEYWARD_METRICS_BIND", "everywhere"),
        ("KEYWARD_OTLP_ENDPOINT", "https://collector.example.com"),
    ] {
        let output = keyward()
            .current_dir(dir.path())
            .env(var, value)
            .arg("migrate")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    }
    let output = keyward()
        .current_dir(dir.path())
        .env("KEYWARD_ADMIN_EMAIL", "a@example.com")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("KEYWARD_ADMIN_PASSWORD")
    );
}

#[test]
fn help_lists_the_environment_variables() {
    let output = keyward().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "KEYWARD_BIND",
        "KEYWARD_DATABASE_URL",
        "KEYWARD_PUBLIC_URL",
        "KEYWARD_SECRET_KEY",
        "KEYWARD_ADMIN_EMAIL",
        "KEYWARD_ADMIN_PASSWORD",
    ] {
        assert!(help.contains(var), "{var}");
    }
    for sub in ["serve", "migrate", "admin"] {
        assert!(help.contains(sub), "{sub}");
    }
}

#[test]
fn migrate_prepares_the_default_sqlite_database_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = keyward()
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("data/keyward.sqlite3").exists());
    let key = dir.path().join("data/secret.key");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[actix_web::test]
async fn admin_create_reads_the_password_from_stdin_and_the_admin_can_sign_in() {
    let data = crate::helpers::TestData::new_for_cli();
    let url = match &data.database_url {
        keyward::config::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        keyward::config::DatabaseUrl::Postgres(url) => url.clone(),
    };
    let mut child = keyward()
        .current_dir(data.dir.path())
        .env("KEYWARD_DATABASE_URL", &url)
        .args([
            "admin",
            "create",
            "--email",
            "Ops@Example.com",
            "--role",
            "limited",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "created limited admin ops@example.com"
    );

    // A second time with the same email: refused, code 2.
    let mut again = keyward()
        .current_dir(data.dir.path())
        .env("KEYWARD_DATABASE_URL", &url)
        .args(["admin", "create", "--email", "ops@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    again
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let output = again.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("exists already")
    );

    let settings = test_settings(&data);
    let app = spawn_on(data, settings).await;
    assert!(
        app.setup_link.is_none(),
        "an admin exists, so no setup link"
    );
    assert_eq!(
        app.sign_in("ops@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(app.get("/apps").await.status().as_u16(), 403, "limited");
    let _ = on_postgres();
}

#[test]
fn admin_create_refuses_a_short_password_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = keyward()
        .current_dir(dir.path())
        .args(["admin", "create", "--email", "a@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"tiny\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("at least 12"));
    assert!(!stderr.contains("tiny"));
}

/// A one-shot command that used a pooled connection on PostgreSQL once crashed at
/// exit now and then (SIGSEGV in OpenSSL's exit handler while a pool thread
/// connected), which cron reports as a failure. Twenty runs show it no more.
#[test]
fn one_shot_commands_exit_with_their_own_code_every_time() {
    let data = crate::helpers::TestData::new_for_cli();
    let url = match &data.database_url {
        keyward::config::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        keyward::config::DatabaseUrl::Postgres(url) => url.clone(),
    };
    let create = |email: &str| {
        let mut child = keyward()
            .current_dir(data.dir.path())
            .env("KEYWARD_DATABASE_URL", &url)
            .env("KEYWARD_LOG", "error")
            .args(["admin", "create", "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let first = create("cron@example.com");
    assert!(first.status.success(), "{:?}", first.status);
    for run in 0..20 {
        let output = create("cron@example.com");
        assert_eq!(
            output.status.code(),
            Some(2),
            "run {run}: {:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = serve(
        dir.path(),
        &[
            ("KEYWARD_ADMIN_EMAIL", "ops@example.com".to_owned()),
            ("KEYWARD_ADMIN_PASSWORD", PASSWORD.to_owned()),
        ],
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(
        log.contains("SIGTERM received: finishing requests in flight") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the admin password is never logged"
    );
}

/// Starts `keyward` serving in `dir` with `envs` on a free port, and waits
/// until it answers `/healthz`.
fn serve(dir: &std::path::Path, envs: &[(&str, String)]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = keyward();
    command
        .current_dir(dir)
        .env("KEYWARD_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let child = command.spawn().unwrap();
    let up = (0..100).any(|_| {
        let answers = healthz_answers(port);
        if !answers {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        answers
    });
    assert!(up, "the server listens");
    (child, port)
}

fn healthz_answers(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    if stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

/// One request with `key`; the answer's status and head.
fn answer_of(port: u16, path: &str, key: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nAuthorization: apikey {key}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = response.split("\r\n\r\n").next().unwrap_or("").to_owned();
    (status, head)
}

/// One request with `key`; the status code.
fn status_of(port: u16, path: &str, key: &str) -> u16 {
    answer_of(port, path, key).0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn request_spans_are_exported_to_an_otlp_collector_with_their_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let spans = dir.path().join("spans.jsonl");
    let collector_port = free_port();
    // A receiver that decodes with OpenTelemetry's own protobuf definitions.
    let mut collector = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/otlp/receiver.py"
        ))
        .arg(collector_port.to_string())
        .arg(&spans)
        .spawn()
        .expect("python3 with opentelemetry-proto (pip install opentelemetry-proto)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", collector_port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let demo = keyward()
        .current_dir(dir.path())
        .arg("demo-data")
        .output()
        .unwrap();
    let key = String::from_utf8(demo.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("kw_"))
        .expect("the demo key is printed")
        .to_owned();
    let (child, port) = serve(
        dir.path(),
        &[(
            "KEYWARD_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}/"),
        )],
    );
    let request_id = |head: &str| {
        head.lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-request-id").then_some(value)
            })
            .expect("every answer names its request id")
            .trim()
            .to_owned()
    };
    let (status, head) = answer_of(port, "/api/v2/services", &key);
    assert_eq!(status, 200);
    let listed = request_id(&head);
    let (status, head) = answer_of(port, "/api/v2/services/not-a-service", &key);
    assert_eq!(status, 404);
    let missing = request_id(&head);
    // Spans go in batches; a graceful stop exports the last ones.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let _ = collector.kill();
    let _ = collector.wait();

    let spans: Vec<serde_json::Value> = std::fs::read_to_string(&spans)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let span_of = |id: &str| {
        spans
            .iter()
            .find(|s| s["attributes"]["request_id"] == id)
            .unwrap_or_else(|| panic!("a span for request {id} in {spans:#?}"))
    };
    let span = span_of(&listed);
    assert_eq!(span["name"], "GET /api/v2/services");
    assert_eq!(span["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(span["attributes"]["http.route"], "/api/v2/services");
    assert_eq!(span["attributes"]["http.request.method"], "GET");
    assert_eq!(span["attributes"]["http.response.status_code"], 200);
    assert_eq!(span["resource"]["service.name"], "keyward");
    let span = span_of(&missing);
    assert_eq!(span["name"], "GET /api/v2/services/{id}");
    assert_eq!(span["attributes"]["http.response.status_code"], 404);
    let text = serde_json::to_string(&spans).unwrap();
    assert!(!text.contains(&key), "never a secret");
    assert!(
        !text.contains("not-a-service"),
        "the route pattern, never the path"
    );
}

#[test]
fn requests_counted_before_a_sigterm_are_all_recorded() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let demo = keyward()
        .current_dir(dir.path())
        .arg("demo-data")
        .output()
        .unwrap();
    assert!(demo.status.success(), "{demo:?}");
    let key = String::from_utf8(demo.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("kw_"))
        .expect("the demo key is printed")
        .to_owned();
    let (child, port) = serve(dir.path(), &[]);
    // Well inside one five-second flush interval: only the shutdown's flush
    // can record them.
    let (mut allowed, mut refused) = (0, 0);
    for i in 0..150 {
        let path = if i % 5 == 0 {
            "/api/v2/services/00000000-0000-0000-0000-000000000000"
        } else {
            "/api/v2/services"
        };
        match status_of(port, path, &key) {
            200 => allowed += 1,
            404 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let bad_key = format!("{}x", &key[..key.len() - 1]);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(
        !log.contains(&key) && !log.contains(&bad_key),
        "no key logged"
    );

    let mut conn =
        SqliteConnection::establish(dir.path().join("data/keyward.sqlite3").to_str().unwrap())
            .unwrap();
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut total = |outcome: &str| {
        diesel::sql_query(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM usage_counts \
             WHERE period_seconds = 60 AND outcome = ? AND key_id <> '*'",
        )
        .bind::<diesel::sql_types::Text, _>(outcome)
        .get_result::<Total>(&mut conn)
        .unwrap()
        .n
    };
    // A service not found is not a refusal of the key: it counts as
    // allowed, like every answer past the credential check but a 5xx.
    assert_eq!(total("allowed"), 120 + 30, "{allowed} + {refused}");
    // And the organization's own rows hold the same.
    let whole: i64 = diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM usage_counts \
         WHERE period_seconds = 60 AND key_id = '*'",
    )
    .get_result::<Total>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(whole, 150);
    assert_eq!(allowed, 120);
    assert_eq!(refused, 30);
}

/// A burst of requests while nothing reads the log (a stalled pipe): the
/// server keeps answering, and every request's log line is either written or
/// counted as dropped, the count reported in a warning line.
#[test]
fn a_log_that_falls_behind_drops_lines_and_says_how_many() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = serve(
        dir.path(),
        &[
            ("KEYWARD_LOG", "info".to_owned()),
            ("KEYWARD_LOG_BUFFER_LINES", "100".to_owned()),
        ],
    );
    // Far more lines than the pipe (64 KiB) and the queue (100 lines) hold.
    let burst = 3000;
    let answered: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..burst / 4).filter(|_| healthz_answers(port)).count()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(
        answered, burst,
        "the server answers while its log is stalled"
    );

    // The log is read again: the writer catches up and the drops are reported.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let log = reader.join().unwrap();

    let handled = log
        .lines()
        .filter(|l| l.contains("handled") && l.contains("route=/healthz"))
        .count();
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("log lines dropped: the log writer fell behind"))
        .collect();
    let total: usize = reports
        .last()
        .and_then(|l| l.split("total=").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no count of dropped lines in the log:\n{log}"));
    // The first /healthz (the server was up) and the burst.
    let requests = burst + 1;
    assert!(handled < requests, "lines were dropped: {handled} written");
    assert!(
        handled + total >= requests,
        "every request is written or counted: {handled} + {total} of {requests}"
    );
    // The count may include its own warnings dropped while the queue was full.
    assert!(
        handled + total <= requests + 10,
        "nothing is counted twice: {handled} + {total} of {requests}"
    );
}
