//! The README's commands, run as a reader would copy them, against a running
//! server with the real curl and openssl: every `curl` line that needs only an
//! API key, and the access token and OpenID Connect walkthroughs step by step,
//! each step given what the steps before it answered. The other blocks start
//! the server, the tests and the benchmarks (`command_line.rs` runs the
//! `keyward` subcommands).

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use crate::users::{NEW_PASSWORD, add_employee, choose_password, last_link, visitor};

/// The README's ```sh blocks, each as its lines.
fn shell_blocks() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None if line.trim() == "```sh" => current = Some(Vec::new()),
                None => {}
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push(line.to_owned());
        }
    }
    blocks
}

/// The lines of the README's ```sh blocks.
fn shell_lines() -> Vec<String> {
    shell_blocks().into_iter().flatten().collect()
}

/// A command of a walkthrough, its continuation lines joined, with the
/// answer the README shows after it (`# {…}` comment lines), if any.
#[derive(Debug)]
struct Step {
    command: String,
    shown: Option<String>,
}

fn steps(block: &[String]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending = String::new();
    let mut showing = false;
    for line in block {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let answer = comment.trim_start();
            let continues = showing && comment.starts_with("  ");
            if let Some(step) = steps.last_mut()
                && (answer.starts_with('{') || continues)
                && pending.is_empty()
            {
                step.shown.get_or_insert_with(String::new).push_str(answer);
                showing = true;
                continue;
            }
            showing = false;
            continue;
        }
        showing = false;
        if trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(trimmed);
                steps.push(Step {
                    command: std::mem::take(&mut pending),
                    shown: None,
                });
            }
        }
    }
    steps
}

/// The JSON member names of an answer as the README shows it.
fn shown_names(shown: &str) -> Vec<String> {
    shown
        .split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0].to_owned())
        .collect()
}

/// The values the steps pass on: the latest tokens, and the code.
#[derive(Debug, Default)]
struct Passed {
    access: String,
    refresh: String,
    code: String,
}

/// Runs one `curl` step: its placeholders filled from `passed`, the
/// walkthrough's variables in `env`. Checks it answers 2xx with what the
/// README shows, and takes the tokens it answers.
async fn run_curl(step: &Step, passed: &mut Passed, env: &[(&str, String)]) {
    let command = step
        .command
        .replacen("curl ", "curl -sS -w '\\n%{http_code}' ", 1)
        .replace("eyJ…", &passed.access)
        .replace("kwr_…", &passed.refresh)
        .replace("code=…", &format!("code={}", passed.code));
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    assert!(
        output.status.success() && status.starts_with('2'),
        "{}\n=> exit {:?}, HTTP {status}: {body} {}",
        step.command,
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{}: {e}: {body}", step.command))
    };
    if let Some(shown) = &step.shown {
        for name in shown_names(shown) {
            assert!(
                json.get(&name).is_some(),
                "{}\n=> {body}\nlacks {name:?}, which the README shows",
                step.command
            );
        }
        if shown.contains(r#""active":true"#) {
            assert_eq!(json["active"], true, "{body}");
        }
    }
    if let Some(t) = json["access_token"].as_str() {
        passed.access = t.to_owned();
    }
    if let Some(t) = json["refresh_token"].as_str() {
        passed.refresh = t.to_owned();
    }
}

/// The README's walkthrough block that contains `marker`.
fn walkthrough(marker: &str) -> Vec<Step> {
    let block = shell_blocks()
        .into_iter()
        .find(|b| b.iter().any(|l| l.contains(marker)))
        .unwrap_or_else(|| panic!("a README block with {marker}"));
    steps(&block)
}

/// What the walkthroughs assume: an Employee app (a Client App, with its
/// secret) that may ask for `services:read` and comes back to
/// `https://shop.example.com/signed-in`, and Ana with the README's password.
async fn walkthrough_setup(app: &TestApp) -> crate::helpers::CreatedApp {
    app.signed_in_admin().await;
    let created = app
        .create_app_with(
            "employee",
            "Shop",
            "client_app",
            &[],
            &["services:read"],
            &[(
                "post_login_redirect_urls",
                "https://shop.example.com/signed-in",
            )],
        )
        .await;
    let id = add_employee(app, "Ana Lima", "ana@salon.example").await;
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let link = last_link(app);
    let (status, body) = choose_password(app, &visitor(), &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    created
}

#[actix_web::test]
async fn the_readme_s_token_and_openid_connect_walkthroughs_run_as_written() {
    let app = spawn_app().await;
    let client = walkthrough_setup(&app).await;
    let env = vec![
        ("APP", client.id.clone()),
        ("SECRET", client.secret.clone()),
        ("BASE", app.address.clone()),
    ];

    // OpenID Connect: the PKCE pair and the authorization URL from the
    // README's own shell lines, then Ana signs in on the page it opens.
    let oidc = walkthrough("code_challenge_method=S256");
    let echo = oidc
        .iter()
        .position(|s| s.command.starts_with("echo "))
        .expect("the authorization URL");
    let mut script: Vec<&str> = oidc[..=echo].iter().map(|s| s.command.as_str()).collect();
    script.push(r#"printf '%s\n' "$VERIFIER""#);
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script.join("\n"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let (url, verifier) = printed.trim().split_once('\n').unwrap();
    let browser = visitor();
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "{url}");
    let html = page.text().await.unwrap();
    let signed_in =
        crate::oidc::submit(&app, &browser, &html, "ana@salon.example", NEW_PASSWORD).await;
    assert_eq!(signed_in.status().as_u16(), 303);
    let back = url::Url::parse(signed_in.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/signed-in");
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(query.contains(&("state".to_owned(), "xyz".to_owned())));
    let mut passed = Passed {
        code: query.iter().find(|(k, _)| k == "code").unwrap().1.clone(),
        ..Passed::default()
    };
    let mut oidc_env = env.clone();
    oidc_env.push(("VERIFIER", verifier.to_owned()));
    let curls: Vec<&Step> = oidc[echo..]
        .iter()
        .filter(|s| s.command.starts_with("curl "))
        .collect();
    assert_eq!(curls.len(), 2, "the exchange and userinfo");
    for step in curls {
        run_curl(step, &mut passed, &oidc_env).await;
    }

    // Access tokens: sign in, call, refresh, introspect, change the
    // password, sign out, in the README's order.
    let tokens = walkthrough("grant_type=password");
    assert!(tokens[0].command.starts_with("APP=") && tokens[0].command.contains("BASE="));
    let curls: Vec<&Step> = tokens
        .iter()
        .filter(|s| s.command.starts_with("curl "))
        .collect();
    assert_eq!(curls.len(), 6, "{tokens:#?}");
    let mut passed = Passed::default();
    for step in curls {
        run_curl(step, &mut passed, &env).await;
    }
    // The last step signed out: the refresh token is spent.
    let refused = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_html_form::to_string([
                ("grant_type", "refresh_token"),
                ("refresh_token", passed.refresh.as_str()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
}

#[actix_web::test]
async fn every_readme_curl_that_needs_only_a_key_works_as_written() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let runnable: Vec<String> = shell_lines()
        .into_iter()
        .filter(|l| l.starts_with("curl ") && l.contains("kw_…"))
        .filter(|l| !l.contains('$') && !l.contains("eyJ…") && !l.contains("kwr_…"))
        .collect();
    assert!(runnable.len() >= 2, "{runnable:?}");
    for line in runnable {
        let command = line
            .replacen("curl ", "curl -sS -o /dev/null -w %{http_code} ", 1)
            .replace("kw_…", &key)
            .replace("http://127.0.0.1:8080", &app.address);
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .output()
            .await
            .unwrap();
        let status = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success() && status == "200",
            "{line}\n=> exit {:?}, HTTP {status}, {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
