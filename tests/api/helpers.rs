//! One way to boot the real server for a test: a fresh database (SQLite in a temp
//! folder, or a PostgreSQL database of its own when KEYWARD_TEST_DATABASE_URL is
//! set, dropped afterwards), a free port, and an HTTP client with its own cookies.

use std::sync::{Arc, Once};

use actix_web::dev::ServerHandle;
use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keyward::config::{DatabaseUrl, Settings};
use keyward::db::models::{Actor, Admin, Role};
use keyward::db::{Db, DbError, write_tx};
use keyward::domain::EmailAddress;
use keyward::startup::Application;
use keyward::state::AppState;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;

/// The password every test admin gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Whether this run targets PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("KEYWARD_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

/// Drops a per-test PostgreSQL database when the last instance using it is gone.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// What a test's server instances share: a data folder and a database.
pub struct TestData {
    pub dir: tempfile::TempDir,
    pub database_url: DatabaseUrl,
    _pg: Option<PgDatabase>,
}

impl TestData {
    /// A fresh database and folder, for a test that runs the binary first.
    pub fn new_for_cli() -> Arc<TestData> {
        new_test_data()
    }
}

fn new_test_data() -> Arc<TestData> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, pg) = match std::env::var("KEYWARD_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            // As the server does: no OpenSSL exit handler to race the pools'
            // threads when the test process ends.
            openssl_sys::init();
            let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn =
                PgConnection::establish(&admin_url).expect("connect to KEYWARD_TEST_DATABASE_URL");
            conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("KEYWARD_TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            (
                DatabaseUrl::Postgres(url.to_string()),
                Some(PgDatabase { admin_url, name }),
            )
        }
        _ => (
            DatabaseUrl::Sqlite(dir.path().join("keyward.sqlite3")),
            None,
        ),
    };
    Arc::new(TestData {
        dir,
        database_url,
        _pg: pg,
    })
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub state: web::Data<AppState>,
    pub setup_link: Option<String>,
    pub data: Arc<TestData>,
    /// The port of `GET /metrics`, when the settings asked for it.
    pub metrics_port: Option<u16>,
    handle: ServerHandle,
}

static TRACING: Once = Once::new();
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Collects every log line of the test process, so tests can search them.
#[derive(Clone, Copy)]
struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = LOGS.lock() {
            logs.extend_from_slice(buf);
        }
        if std::env::var_os("KEYWARD_TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged so far by every server of this test process, at debug level.
pub fn captured_logs() -> String {
    LOGS.lock()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default()
}

/// Settings for a test on `data`.
pub fn test_settings(data: &TestData) -> Settings {
    Settings::for_tests(data.dir.path(), data.database_url.clone())
}

/// Boots a server on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots a server on a fresh database, with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data = new_test_data();
    let mut settings = test_settings(&data);
    adjust(&mut settings);
    spawn_on(data, settings).await
}

/// Boots a server with `settings` on the given shared data.
pub async fn spawn_on(data: Arc<TestData>, settings: Settings) -> TestApp {
    TRACING.call_once(|| {
        // As the binary does: one TLS crypto provider for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .event_format(keyward::telemetry::WithRequestId::text(false))
            .with_writer(|| LogSink)
            .try_init();
    });
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let port = app.port();
    let state = app.state();
    let setup_link = app.setup_link().map(str::to_owned);
    let metrics_port = app.metrics_port();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let jar = Arc::new(Jar::default());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: client_with(Arc::clone(&jar)),
        jar,
        state,
        setup_link,
        data,
        metrics_port,
        handle,
    }
}

/// The user agent the test clients send (the audit trail records it).
pub const USER_AGENT: &str = "keyward-tests/1";

/// A client that keeps cookies in `jar` and never follows redirects.
pub fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_provider(jar)
        .user_agent(USER_AGENT)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The value of `<input name="csrf_token" value="…">` in a page.
pub fn csrf_in(html: &str) -> String {
    hidden_value(html, "csrf_token").expect("the page has a CSRF token")
}

/// The value of the hidden input `name`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET `path` and return the body, asserting the status.
    pub async fn get_html(&self, path: &str, status: u16) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), status, "GET {path}");
        response.text().await.expect("body")
    }

    /// The session's CSRF token, read from a page that shows it.
    pub async fn csrf(&self) -> String {
        let signed_in = self.get("/settings").await;
        let html = if signed_in.status().is_success() {
            signed_in.text().await.expect("body")
        } else {
            self.get_html("/login", 200).await
        };
        csrf_in(&html)
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// POSTs a form exactly as given.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_html_form::to_string(fields).expect("encode");
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates an admin straight in the database, with [`PASSWORD`].
    pub async fn create_admin(&self, email: &str, role: Role) -> Admin {
        let hash = self.state.hasher.hash(PASSWORD).await.expect("hash");
        let email = EmailAddress::parse(email).expect("email");
        let org = self.org_id().await;
        self.db()
            .run(move |conn| {
                write_tx(conn, |conn| {
                    keyward::services::admins::create(
                        conn,
                        &org,
                        &email,
                        &hash,
                        role,
                        &Actor::system("test"),
                    )
                })
            })
            .await
            .expect("admin created")
    }

    /// The id of the organization the server serves.
    pub async fn org_id(&self) -> keyward::domain::OrgId {
        self.db()
            .run(|conn| keyward::db::models::Organization::the_one(conn).map_err(DbError::from))
            .await
            .expect("the organization")
            .id
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("email", email), ("password", password)])
            .await
    }

    /// Creates a full-access admin and signs in as them.
    pub async fn signed_in_admin(&self) -> Admin {
        self.signed_in_as("admin@example.com", Role::Full).await
    }

    /// Creates an admin with `role` and signs in as them.
    pub async fn signed_in_as(&self, email: &str, role: Role) -> Admin {
        let admin = self.create_admin(email, role).await;
        let response = self.sign_in(email, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 303, "sign-in redirects");
        admin
    }

    /// The Cookie header the client would send.
    pub fn cookie_header(&self) -> String {
        let url = self.address.parse().expect("url");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    }

    /// Another instance on the same database and data folder (same secret
    /// key), behind the same public URL, as instances behind one load
    /// balancer are (the issuer of access tokens).
    pub async fn sibling(&self) -> TestApp {
        self.sibling_with(|_| {}).await
    }

    /// A [`sibling`](Self::sibling) with its settings adjusted by `adjust`.
    pub async fn sibling_with(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.next_settings();
        settings.public_url = self.state.settings.public_url.clone();
        adjust(&mut settings);
        spawn_on(Arc::clone(&self.data), settings).await
    }

    /// The settings of another instance on the same data.
    fn next_settings(&self) -> Settings {
        let mut settings = test_settings(&self.data);
        settings.session_idle = self.state.settings.session_idle;
        settings.session_max = self.state.settings.session_max;
        settings.smtp_url = self.state.settings.smtp_url.clone();
        settings.trusted_proxies = self.state.settings.trusted_proxies.clone();
        settings
    }

    /// Stops this instance and starts a new one on the same data, keeping the
    /// client's cookies.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        let mut next = spawn_on(Arc::clone(&self.data), self.next_settings()).await;
        next.jar = Arc::clone(&self.jar);
        next.client = client_with(Arc::clone(&self.jar));
        next
    }

    /// The audit actions recorded so far, oldest first.
    pub async fn audit_actions(&self) -> Vec<(String, String, Option<String>)> {
        use diesel::prelude::*;
        use keyward::db::schema::audit_events::dsl::*;
        self.db()
            .run(|conn| {
                audit_events
                    .order((occurred_at.asc(), id.asc()))
                    .select((action, actor_label, target_label))
                    .load::<(String, String, Option<String>)>(conn)
                    .map_err(DbError::from)
            })
            .await
            .expect("audit rows")
    }

    /// The operators' trail: `(action, actor, organization, changes)` of
    /// every record, oldest first.
    pub async fn operator_events(
        &self,
    ) -> Vec<(String, String, Option<String>, serde_json::Value)> {
        use diesel::prelude::*;
        use keyward::db::schema::operator_events::dsl::*;
        self.db()
            .run(|conn| {
                operator_events
                    .order((occurred_at.asc(), id.asc()))
                    .select((action, actor_label, organization_label, changes))
                    .load::<(String, String, Option<String>, String)>(conn)
                    .map_err(DbError::from)
            })
            .await
            .expect("operator events")
            .into_iter()
            .map(|(a, b, c, d)| (a, b, c, serde_json::from_str(&d).expect("changes are JSON")))
            .collect()
    }

    /// The `changes` of every audit record of `wanted`, oldest first.
    pub async fn audit_changes(&self, wanted: &str) -> Vec<serde_json::Value> {
        use diesel::prelude::*;
        use keyward::db::schema::audit_events::dsl::*;
        let wanted = wanted.to_owned();
        self.db()
            .run(move |conn| {
                audit_events
                    .filter(action.eq(wanted))
                    .order((occurred_at.asc(), id.asc()))
                    .select(changes)
                    .load::<String>(conn)
                    .map_err(DbError::from)
            })
            .await
            .expect("audit rows")
            .iter()
            .map(|c| serde_json::from_str(c).expect("changes are JSON"))
            .collect()
    }
}

/// What the wizard made.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub id: String,
    pub secret: String,
    pub key: String,
}

/// The `value` of the `<input>` (or the text of the `<textarea>`) with this id.
pub fn input_value(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker)?;
    let tag_end = html[start..].find('>')? + start;
    if html[..start]
        .rfind('<')
        .is_some_and(|open| html[open..].starts_with("<textarea"))
    {
        let end = html[tag_end..].find("</textarea>")? + tag_end;
        return Some(html_unescape(&html[tag_end + 1..end]));
    }
    let tag = &html[start..tag_end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let end = tag[v..].find('"')? + v;
    Some(html_unescape(&tag[v..end]))
}

/// The error summary at the top of a refused form (the GOV.UK pattern), as
/// `(control id, message)`, checking that each link leads to a control of the
/// page. Empty when the page has no summary.
pub fn error_summary(html: &str) -> Vec<(String, String)> {
    let Some(start) = html.find("id=\"error-summary\"") else {
        return Vec::new();
    };
    let end = html[start..].find("</div>").unwrap() + start;
    let mut found = Vec::new();
    let mut rest = &html[start..end];
    while let Some(at) = rest.find("<a href=\"#") {
        rest = &rest[at + "<a href=\"#".len()..];
        let target = &rest[..rest.find('"').unwrap()];
        let text_start = rest.find('>').unwrap() + 1;
        let text_end = rest.find("</a>").unwrap();
        assert!(
            html.contains(&format!("id=\"{target}\"")),
            "the summary links to #{target}, which the page has"
        );
        found.push((
            target.to_owned(),
            html_unescape(&rest[text_start..text_end]),
        ));
        rest = &rest[text_end..];
    }
    assert!(!found.is_empty(), "an error summary lists its problems");
    found
}

/// The id of the key a Create or a Roll made (its answer redirects to the
/// page that shows the key once).
pub fn created_id(response: &reqwest::Response) -> String {
    assert_eq!(response.status().as_u16(), 303, "created");
    let to = location(response);
    to.trim_end_matches("/created")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The path of a list page's next-page link (the one carrying its keyset
/// cursor, `before=`), if the page has one.
pub fn older_link(html: &str) -> Option<String> {
    let at = html.find("before=")?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html_unescape(&html[start..end]))
}

/// Undoes the HTML escaping of an attribute value.
pub fn html_unescape(s: &str) -> String {
    [
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&#60;", "<"),
        ("&#62;", ">"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(s.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// The path of a 303's Location.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

impl TestApp {
    /// Runs the whole wizard: details, scopes, secrets, first key, finish.
    pub async fn create_app(
        &self,
        name: &str,
        source_app: &str,
        apikey: &[&str],
        jwt: &[&str],
    ) -> CreatedApp {
        self.create_app_for("guest", name, source_app, apikey, jwt)
            .await
    }

    /// Runs the whole wizard for an app whose users are `user_type`
    /// (`guest` or `employee`).
    pub async fn create_app_for(
        &self,
        user_type: &str,
        name: &str,
        source_app: &str,
        apikey: &[&str],
        jwt: &[&str],
    ) -> CreatedApp {
        self.create_app_with(user_type, name, source_app, apikey, jwt, &[])
            .await
    }

    /// Runs the whole wizard, with more fields on the Details step (its
    /// redirect URLs).
    pub async fn create_app_with(
        &self,
        user_type: &str,
        name: &str,
        source_app: &str,
        apikey: &[&str],
        jwt: &[&str],
        details: &[(&str, &str)],
    ) -> CreatedApp {
        let mut fields = vec![
            ("name", name),
            ("uri", "https://example.com"),
            ("login_user_type", user_type),
            ("source_app", source_app),
            ("op", "next"),
        ];
        fields.extend_from_slice(details);
        let response = self.post_form("/apps/new", &fields).await;
        assert_eq!(response.status().as_u16(), 303, "details accepted");
        let scopes = location(&response);
        let id = scopes
            .trim_start_matches("/apps/")
            .trim_end_matches("/wizard/scopes")
            .to_owned();
        let mut fields: Vec<(&str, &str)> = apikey.iter().map(|p| ("apikey", *p)).collect();
        fields.extend(jwt.iter().map(|p| ("jwt", *p)));
        let response = self.post_form(&scopes, &fields).await;
        assert_eq!(response.status().as_u16(), 303, "scopes accepted");
        let html = self
            .get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await;
        let secret = input_value(&html, "app-secret").expect("the secret is shown");
        let response = self
            .post_form(&format!("/apps/{id}/wizard/secrets"), &[])
            .await;
        assert_eq!(response.status().as_u16(), 303);
        let key = if apikey.is_empty() {
            let response = self.post_form(&format!("/apps/{id}/wizard/key"), &[]).await;
            assert_eq!(response.status().as_u16(), 303);
            String::new()
        } else {
            let response = self
                .post_form(&format!("/apps/{id}/wizard/key"), &[("name", "First key")])
                .await;
            assert_eq!(location(&response), format!("/apps/{id}/wizard/finish"));
            let shown = self.get_html(&location(&response), 200).await;
            input_value(&shown, "new-api-key").expect("the key is shown")
        };
        let response = self
            .post_form(&format!("/apps/{id}/wizard/finish"), &[])
            .await;
        assert_eq!(location(&response), format!("/apps/{id}"));
        CreatedApp { id, secret, key }
    }

    /// New API Key through the form; returns the response, and for a key
    /// made, the page its redirect shows (where the token is, once).
    pub async fn post_new_key(
        &self,
        app_id: &str,
        name: &str,
        permissions: &[&str],
        expires_at: &str,
    ) -> reqwest::Response {
        let response = self
            .post_new_key_raw(app_id, name, permissions, expires_at)
            .await;
        let to = location(&response);
        if response.status().as_u16() == 303 && to.ends_with("/created") {
            return self.get(&to).await;
        }
        response
    }

    /// New API Key through the form; returns the response as it is.
    pub async fn post_new_key_raw(
        &self,
        app_id: &str,
        name: &str,
        permissions: &[&str],
        expires_at: &str,
    ) -> reqwest::Response {
        let html = self
            .get_html(&format!("/apps/{app_id}/keys/new"), 200)
            .await;
        let nonce = hidden_value(&html, "nonce").expect("nonce");
        let mut fields = vec![
            ("name", name),
            ("expires_at", expires_at),
            ("active", "on"),
            ("nonce", nonce.as_str()),
        ];
        fields.extend(permissions.iter().map(|p| ("permissions", *p)));
        let token = csrf_in(&html);
        fields.push(("csrf_token", &token));
        self.post_raw(&format!("/apps/{app_id}/keys"), &fields)
            .await
    }

    /// New API Key; returns its token.
    pub async fn new_key(&self, app_id: &str, name: &str, permissions: &[&str]) -> String {
        let response = self.post_new_key(app_id, name, permissions, "").await;
        assert_eq!(response.status().as_u16(), 200, "key created");
        input_value(&response.text().await.unwrap(), "new-api-key").expect("the key is shown")
    }

    /// New API Key through the form, with `extra` fields after the name,
    /// Active and `services:read` (unless `extra` names the permissions);
    /// the response as it is.
    pub async fn post_key_form(
        &self,
        app_id: &str,
        name: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self
            .get_html(&format!("/apps/{app_id}/keys/new"), 200)
            .await;
        let nonce = hidden_value(&html, "nonce").expect("nonce");
        let token = csrf_in(&html);
        let mut fields = vec![
            ("name", name),
            ("active", "on"),
            ("nonce", nonce.as_str()),
            ("csrf_token", token.as_str()),
        ];
        if !extra.iter().any(|(k, _)| *k == "permissions") {
            fields.push(("permissions", "services:read"));
        }
        fields.extend_from_slice(extra);
        self.post_raw(&format!("/apps/{app_id}/keys"), &fields)
            .await
    }

    /// A key of an app as stored, if it is.
    pub async fn stored_key(
        &self,
        app_id: &str,
        key_id: &str,
    ) -> Option<keyward::db::models::ApiKey> {
        let (a, k) = (
            keyward::domain::AppId::from(app_id),
            keyward::domain::KeyId::from(key_id),
        );
        self.db()
            .run(move |conn| keyward::db::models::ApiKey::find(conn, &a, &k).map_err(DbError::from))
            .await
            .unwrap()
    }

    /// The ids of an app's keys, oldest first.
    pub async fn key_ids(&self, app_id: &str) -> Vec<String> {
        let app_id = keyward::domain::AppId::from(app_id);
        self.db()
            .run(move |conn| {
                keyward::db::models::ApiKey::list_for_app(conn, &app_id).map_err(DbError::from)
            })
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id.to_string())
            .collect()
    }

    /// Every byte the database holds, as text, to search for secrets.
    pub async fn database_dump(&self) -> String {
        match &self.data.database_url {
            keyward::config::DatabaseUrl::Sqlite(path) => {
                let mut all = Vec::new();
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", path.display());
                    if let Ok(bytes) = std::fs::read(&file) {
                        all.extend(bytes);
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            keyward::config::DatabaseUrl::Postgres(_) => {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct Dump {
                    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                    text: Option<String>,
                }
                self.db()
                    .run(|conn| {
                        let mut out = String::new();
                        for table in [
                            "organizations",
                            "admins",
                            "sessions",
                            "setup_tokens",
                            "audit_events",
                            "apps",
                            "api_keys",
                        ] {
                            let rows: Vec<Dump> = diesel::sql_query(format!(
                                "SELECT string_agg(t::text, ' ') AS text FROM {table} t"
                            ))
                            .load(conn)?;
                            out.extend(rows.into_iter().filter_map(|r| r.text));
                        }
                        Ok::<_, DbError>(out)
                    })
                    .await
                    .unwrap()
            }
        }
    }
}

impl TestApp {
    /// Seeds the demo business and returns a key of the demo app with every permission.
    pub async fn demo_key(&self) -> String {
        let hash = self
            .state
            .hasher
            .hash("kws_demo-secret-for-tests")
            .await
            .unwrap();
        let (org, digest_key) = (self.org_id().await, self.state.digest_key.clone());
        let demo = self
            .db()
            .run(move |conn| keyward::demo::create(conn, &org, &digest_key, &hash))
            .await
            .unwrap();
        self.state.verifier.invalidate();
        secrecy::ExposeSecret::expose_secret(&demo.key).to_owned()
    }

    /// A request to the API with an `Authorization` header.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request
    }

    /// GET an API path with a key; returns status and the JSON body.
    pub async fn api_get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let response = self
            .api(reqwest::Method::GET, path, Some(&format!("apikey {key}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// The `code` of the first error of an API response, with its status.
    pub async fn api_error(&self, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.api+json"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status,
            body["errors"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

/// An operator signed in on a browser of their own.
pub struct OperatorClient {
    pub client: reqwest::Client,
    address: String,
}

impl OperatorClient {
    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("GET")
    }

    /// GET `path`, asserting the status, and return the body.
    pub async fn get_html(&self, path: &str, status: u16) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), status, "GET {path}");
        response.text().await.expect("body")
    }

    /// POSTs a form with the session's CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = csrf_in(&self.get_html("/operator/organizations", 200).await);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_html_form::to_string(&all).expect("encode"))
            .send()
            .await
            .expect("POST")
    }

    /// Sets an organization's subscription on its page, as typed.
    pub async fn set_features(
        &self,
        org: &keyward::domain::OrgId,
        connectivity: bool,
        max_apps: &str,
        max_keys_per_app: &str,
        max_rate_per_second: &str,
    ) -> reqwest::Response {
        let mut fields = vec![
            ("max_apps", max_apps),
            ("max_keys_per_app", max_keys_per_app),
            ("max_rate_per_second", max_rate_per_second),
        ];
        if connectivity {
            fields.push(("external_connectivity", "on"));
        }
        self.post_form(&format!("/operator/organizations/{org}/features"), &fields)
            .await
    }
}

impl TestApp {
    /// Makes the operator `email` (as `keyward operator create` does) and
    /// signs them in on the one sign-in page, in a browser of their own.
    pub async fn operator(&self, email: &str) -> OperatorClient {
        let hash = self.state.hasher.hash(PASSWORD).await.expect("hash");
        let address = EmailAddress::parse(email).expect("email");
        self.db()
            .run(move |conn| {
                write_tx(conn, |conn| {
                    keyward::services::operators::create_operator(
                        conn,
                        &address,
                        &hash,
                        &keyward::services::operators::OperatorActor::command("test"),
                        keyward::clock::now(),
                    )
                })
            })
            .await
            .expect("operator");
        let operator = OperatorClient {
            client: client_with(Arc::new(Jar::default())),
            address: self.address.clone(),
        };
        let login = operator.get_html("/login", 200).await;
        let token = csrf_in(&login);
        let signed = operator
            .client
            .post(self.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_html_form::to_string([
                    ("email", email),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                ])
                .expect("encode"),
            )
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status().as_u16(), 303, "the operator signs in");
        assert_eq!(signed.headers()["location"], "/operator/organizations");
        operator
    }

    /// The operator switches this server's first organization's external
    /// connectivity in the Organizations console.
    pub async fn operator_sets_connectivity(&self, operator: &OperatorClient, on: bool) {
        let org = self.org_id().await;
        let response = operator.set_features(&org, on, "", "20", "").await;
        assert_eq!(response.status().as_u16(), 303, "the subscription is saved");
    }
}

/// The next Monday to Saturday, a week ahead, at `hour`:00 UTC: inside the
/// demo data's working hours (none on Sundays).
pub fn next_working_day_at(hour: u8) -> String {
    let mut date = (keyward::clock::now() + time::Duration::days(7)).date();
    while date.weekday() == time::Weekday::Sunday {
        date = date.next_day().unwrap();
    }
    format!("{date}T{hour:02}:00:00Z")
}
