//! The README's nginx `auth_request` block, run for real in front of a sample
//! upstream: a permitted key passes, the others are stopped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::spawn_app_with;

fn readme_snippet() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = &readme[readme
        .find("<!-- nginx-snippet -->")
        .expect("the README marks its nginx block")..];
    let start = after.find("```nginx\n").unwrap() + "```nginx\n".len();
    let end = after[start..].find("```").unwrap() + start;
    after[start..end].to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A sample upstream: answers every request with the app id nginx forwarded.
async fn upstream(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_lowercase();
            let app = request
                .lines()
                .find_map(|l| l.strip_prefix("x-keyward-app-id:"))
                .map(str::trim)
                .unwrap_or("none")
                .to_owned();
            let body = format!("upstream served app {app}");
            let _ = socket
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        });
    }
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn nginx_with_the_readme_block_lets_a_permitted_key_through_and_stops_the_others() {
    let nginx = which_nginx().expect("nginx is installed (.ci/run installs it)");
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.signed_in_admin().await;
    let reader = app
        .create_app("Reader", "bot", &["appointments:read"], &[])
        .await;
    let other = app
        .create_app("Other", "bot", &["services:read"], &[])
        .await;

    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_port = upstream_listener.local_addr().unwrap().port();
    actix_web::rt::spawn(upstream(upstream_listener));

    let proxy_port = free_port();
    let server_block = readme_snippet()
        .replace("listen 8000;", &format!("listen 127.0.0.1:{proxy_port};"))
        .replace(
            "http://127.0.0.1:3000",
            &format!("http://127.0.0.1:{upstream_port}"),
        )
        .replace("http://127.0.0.1:8080", &app.address);
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().display().to_string();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\nhttp {{\n\
         access_log off;\nset_real_ip_from 127.0.0.1;\nreal_ip_header X-Forwarded-For;\nclient_body_temp_path {prefix}/body;\nproxy_temp_path {prefix}/proxy;\n\
         fastcgi_temp_path {prefix}/fastcgi;\nuwsgi_temp_path {prefix}/uwsgi;\nscgi_temp_path {prefix}/scgi;\n{server_block}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let _nginx = Nginx(
        Command::new(nginx)
            .args(["-p", &prefix, "-c", &format!("{prefix}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{proxy_port}/bookings");
    let mut ready = false;
    for _ in 0..50 {
        if client.get(&url).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(ready, "nginx started: {}", log());

    let permitted = client
        .get(&url)
        .header("authorization", format!("apikey {}", reader.key))
        .send()
        .await
        .unwrap();
    assert_eq!(permitted.status().as_u16(), 200, "{}", log());
    assert_eq!(
        permitted.text().await.unwrap(),
        format!("upstream served app {}", reader.id),
        "the app id reaches the upstream"
    );

    let no_key = client.get(&url).send().await.unwrap();
    assert_eq!(no_key.status().as_u16(), 401);
    let wrong_permission = client
        .get(&url)
        .header("authorization", format!("Bearer {}", other.key))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_permission.status().as_u16(), 403);
    // A permission smuggled in the query string does not override the proxy's header.
    let smuggled = client
        .get(format!("{url}?permission=services:read"))
        .header("authorization", format!("apikey {}", other.key))
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status().as_u16(), 403);

    // A key restricted to 10.1.2.0/24: nginx forwards the client's address
    // (here the one a load balancer in front of it names, which nginx's
    // realip module believes), and the check applies the list to it.
    let (_, pinned) = crate::key_restrictions::key_with(
        &app,
        &reader.id,
        "Pinned",
        &[
            ("permissions", "appointments:read"),
            ("allowed_ips", "10.1.2.0/24"),
        ],
    )
    .await;
    let from = |address: Option<&'static str>| {
        let mut request = client
            .get(&url)
            .header("authorization", format!("apikey {pinned}"));
        if let Some(address) = address {
            request = request.header("x-forwarded-for", address);
        }
        request.send()
    };
    assert_eq!(
        from(Some("10.1.2.5")).await.unwrap().status().as_u16(),
        200,
        "{}",
        log()
    );
    assert_eq!(
        from(None).await.unwrap().status().as_u16(),
        403,
        "from 127.0.0.1"
    );
    assert_eq!(from(Some("10.9.9.9")).await.unwrap().status().as_u16(), 403);
    let direct = app
        .api(
            reqwest::Method::GET,
            "/api/v2/appointments",
            Some(&format!("apikey {pinned}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(direct).await,
        (403, "ip_not_allowed".to_owned())
    );

    let key_id = app.key_ids(&reader.id).await[0].clone();
    app.post_form(
        &format!("/apps/{}/keys/{key_id}/inactivate", reader.id),
        &[],
    )
    .await;
    let inactive = client
        .get(&url)
        .header("authorization", format!("apikey {}", reader.key))
        .send()
        .await
        .unwrap();
    assert_eq!(inactive.status().as_u16(), 401);
}

fn which_nginx() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}
