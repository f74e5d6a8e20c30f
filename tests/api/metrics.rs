//! `GET /metrics` for operators: only on its own address, in a text that
//! Prometheus's own checker accepts, with counters that move with the traffic.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::key_restrictions::key_with;

async fn with_metrics() -> TestApp {
    spawn_app_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await
}

async fn scrape(app: &TestApp) -> String {
    let port = app.metrics_port.expect("metrics are served");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `promtool check metrics`: Prometheus's own parser and linter.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian's prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[actix_web::test]
async fn metrics_are_served_apart_checked_by_promtool_and_move_with_requests() {
    let app = with_metrics().await;
    app.signed_in_admin().await;
    let app_id = app
        .create_app("Web Booking", "external_webstore", &["services:read"], &[])
        .await
        .id;
    let (_, key) = key_with(&app, &app_id, "Storefront", &[]).await;

    let before = scrape(&app).await;
    promtool_check(&before);
    for line in [
        "keyward_build_info{",
        "keyward_db_pool_max_connections ",
        "keyward_database_up 1",
        "keyward_expiry_alerts{status=\"pending\"} 0",
        "keyward_emails_total{outcome=\"sent\"} 0",
    ] {
        assert!(before.contains(line), "{line}\n{before}");
    }

    let services = r#"keyward_http_request_duration_seconds_count{route="/api/v2/services",method="GET",status="200"}"#;
    let allowed = r#"keyward_auth_decisions_total{credential="api_key",outcome="allowed"}"#;
    let refused =
        r#"keyward_auth_decisions_total{credential="api_key",outcome="invalid_credentials"}"#;
    for _ in 0..3 {
        let status = app
            .api(
                reqwest::Method::GET,
                "/api/v2/services",
                Some(&format!("apikey {key}")),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }
    let wrong = format!("apikey {}", key.replace(&key[3..8], "zzzzz"));
    let status = app
        .api(reqwest::Method::GET, "/api/v2/services", Some(&wrong))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);

    let after = scrape(&app).await;
    promtool_check(&after);
    assert_eq!(sample(&after, services) - sample(&before, services), 3.0);
    assert_eq!(sample(&after, allowed) - sample(&before, allowed), 3.0);
    assert_eq!(
        sample(&after, refused) - sample(&before, refused),
        1.0,
        "{after}"
    );
    let hits = r#"keyward_verifier_cache_lookups_total{result="hit"}"#;
    assert!(sample(&after, hits) >= 2.0, "{after}");
    assert!(
        after.contains(r#"keyward_http_request_duration_seconds_bucket{route="/api/v2/services",method="GET",status="200",le="+Inf"} 3"#),
        "a latency histogram"
    );
    assert!(!after.contains(&key), "never a secret");

    // Never on the public port.
    let public = app.get("/metrics").await;
    assert_eq!(public.status().as_u16(), 404);
}

#[actix_web::test]
async fn without_the_setting_there_is_no_metrics_server() {
    let app = spawn_app().await;
    assert_eq!(app.metrics_port, None);
    assert!(app.state.metrics.is_none());
    assert_eq!(app.get("/metrics").await.status().as_u16(), 404);
}

/// The README's ```yaml block after `marker`.
fn readme_yaml(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme.split(marker).nth(1).expect("the marker is there");
    let block = after.split("```yaml\n").nth(1).unwrap();
    block.split("```").next().unwrap().to_owned()
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}: {text}");
    text
}

#[test]
fn the_readmes_scrape_config_and_alert_rules_are_valid_and_fire() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, readme_yaml("<!-- prometheus-scrape -->")).unwrap();
    promtool(&["check", "config", config.to_str().unwrap()]);
    let rules = dir.path().join("keyward-rules.yml");
    std::fs::write(&rules, readme_yaml("<!-- prometheus-rules -->")).unwrap();
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    // Each rule fires on the series it watches, and not before its `for`.
    let tests = dir.path().join("keyward-rules-test.yml");
    std::fs::write(
        &tests,
        r#"rule_files: [keyward-rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'keyward_database_up{job="keyward",instance="a"}'
        values: '1 1 0 0 0 0'
      - series: 'up{job="keyward",instance="a"}'
        values: '1 1 1 1 1 1'
      - series: 'keyward_emails_total{job="keyward",instance="a",outcome="failed"}'
        values: '0 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20'
      - series: 'keyward_expiry_alerts{job="keyward",instance="a",status="failed"}'
        values: '0x20'
      - series: 'keyward_http_request_duration_seconds_count{job="keyward",instance="a",route="/api/v2/services",method="GET",status="200"}'
        values: '0+100x30'
      - series: 'keyward_http_request_duration_seconds_count{job="keyward",instance="a",route="/api/v2/services",method="GET",status="503"}'
        values: '0+10x30'
    alert_rule_test:
      - eval_time: 2m
        alertname: KeywardDatabaseDown
        exp_alerts: []
      - eval_time: 4m
        alertname: KeywardDatabaseDown
        exp_alerts:
          - exp_labels: {severity: page, job: keyward, instance: a}
            exp_annotations:
              summary: Keyward cannot reach its database; uncached keys get 503.
      - eval_time: 20m
        alertname: KeywardAlertMailFailing
        exp_alerts:
          - exp_labels: {severity: ticket}
            exp_annotations:
              summary: Expiry alert emails are failing; staff may miss an expiring key.
      - eval_time: 25m
        alertname: KeywardApiErrors
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations:
              summary: More than 1 % of API requests fail with a 5xx.
"#,
    )
    .unwrap();
    promtool(&["test", "rules", tests.to_str().unwrap()]);
}
