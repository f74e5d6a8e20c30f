//! The README's commands, run as a reader would copy them: every `curl` line
//! of its shell blocks that needs nothing but an API key, against a running
//! server, with the real curl.

use crate::helpers::spawn_app;

/// The lines of the README's ```sh blocks.
fn shell_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            continue;
        }
        if inside {
            lines.push(line.to_owned());
        }
    }
    lines
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
