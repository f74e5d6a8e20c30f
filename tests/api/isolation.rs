//! Organizations are isolated: an admin, key or token of one organization
//! gets 404 (never 403: ids do not leak) on every console route and every
//! API route given another organization's ids, and neither organization's
//! lists or audit trail show the other's. The console routes are read from
//! the route table itself, so a new route with ids cannot be missed.

use std::collections::BTreeMap;

use diesel::prelude::*;
use keyward::db::DbError;
use keyward::domain::OrgId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::access_tokens::{EMAIL, invited_employee, sign_in};
use crate::helpers::{TestApp, location, spawn_app};
use crate::manage::{admin_token, curl};
use crate::tenants::{first_admin_joins, new_org};

/// B's admin's email.
const B_ADMIN: &str = "bo@blue.example";

/// One organization's ids of each kind a console or API path names.
#[derive(Debug, Default)]
struct Ids(BTreeMap<&'static str, String>);

impl Ids {
    fn get(&self, kind: &str) -> &str {
        self.0
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind} id in the fixture"))
    }
}

/// Which kind of id a console path's parameter is.
fn kind_of(path: &str, param: &str) -> &'static str {
    match param {
        "key" => "key",
        "delivery" => "delivery",
        "session" => "family",
        "id" => [
            ("/admins/invitations/", "invitation"),
            ("/admins/", "admin"),
            ("/account/sessions/", "admin_session"),
            ("/account/security/passkeys/", "passkey"),
            ("/account/tokens/", "admin_token"),
            ("/apps/", "app"),
            ("/settings/webhooks/", "webhook"),
            ("/guests/", "guest"),
            ("/staff/", "employee"),
        ]
        .into_iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| {
            panic!("{path}: a new console route with ids: say which kind its {{{param}}} is")
        }),
        other => panic!("{path}: a new parameter {{{other}}}: say which kind it is"),
    }
}

/// Every console route with ids: `(path pattern, methods)`, from
/// `src/routes/mod.rs`. The operator's routes (every organization is theirs),
/// the static files and each organization's published discovery documents
/// (public by design: `/o/{slug}/.well-known/…`) are not an organization's
/// secrets.
fn console_routes() -> Vec<(String, Vec<&'static str>)> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/mod.rs"))
        .expect("the route table");
    let routes: Vec<(String, Vec<&'static str>)> = source
        .lines()
        .filter(|l| l.trim_start().starts_with("path!(cfg,"))
        .filter_map(|line| {
            let path = line.split('"').nth(1)?.to_owned();
            let methods = ["GET", "POST"]
                .into_iter()
                .filter(|m| line.contains(&format!("{m} =>")))
                .collect();
            Some((path, methods))
        })
        .filter(|(path, _)| {
            path.contains('{')
                && !path.starts_with("/operator/")
                && !path.starts_with("/static/")
                && !path.contains("/.well-known/")
        })
        .collect();
    assert!(routes.len() > 40, "the route table was read: {routes:?}");
    routes
}

/// The concrete paths of a pattern: `{verb:a|b}` gives each verb, each id
/// parameter the id of its kind, from `owner` (the other organization's), and
/// for a path with two ids also the caller's own first id with the other's
/// second.
fn concrete(pattern: &str, other: &Ids, own: &Ids) -> Vec<String> {
    let segments: Vec<&str> = pattern.split('/').collect();
    let ids: Vec<usize> = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with('{') && !s.contains(':'))
        .map(|(i, _)| i)
        .collect();
    let mut owners: Vec<Vec<&Ids>> = vec![vec![other; ids.len()]];
    if ids.len() == 2 {
        owners.push(vec![own, other]);
    }
    let mut out = Vec::new();
    for owner in owners {
        let mut paths = vec![String::new()];
        for (i, segment) in segments.iter().enumerate().skip(1) {
            let choices: Vec<String> =
                if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    match inner.split_once(':') {
                        Some((_, verbs)) => verbs.split('|').map(str::to_owned).collect(),
                        None => {
                            let which = ids.iter().position(|&at| at == i).unwrap();
                            vec![owner[which].get(kind_of(pattern, inner)).to_owned()]
                        }
                    }
                } else {
                    vec![(*segment).to_owned()]
                };
            paths = paths
                .iter()
                .flat_map(|p| choices.iter().map(move |c| format!("{p}/{c}")))
                .collect();
        }
        out.extend(paths);
    }
    out
}

async fn org_by_slug(app: &TestApp, slug: &'static str) -> OrgId {
    app.db()
        .run(move |conn| {
            keyward::db::models::Organization::find_by_slug(conn, slug).map_err(DbError::from)
        })
        .await
        .unwrap()
        .expect("the organization")
        .id
}

/// The newest id of `table` where `column` is `value` (a raw read of the
/// fixture's rows; the backends quote alike).
async fn newest(app: &TestApp, table: &str, column: &str, value: &str) -> String {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let sql = format!(
        "SELECT id FROM {table} WHERE {column} = '{}' ORDER BY created_at DESC, id DESC LIMIT 1",
        value.replace('\'', "''")
    );
    app.db()
        .run(move |conn| {
            diesel::sql_query(sql)
                .load::<Row>(conn)
                .map_err(DbError::from)
        })
        .await
        .unwrap()
        .pop()
        .unwrap_or_else(|| panic!("a row of {table}"))
        .id
}

/// A webhook endpoint through the form, and a test delivery to it: their ids.
async fn webhook_and_delivery(app: &TestApp) -> (String, String) {
    let made = app
        .post_form(
            "/settings/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hooks"),
                ("description", "Receiver"),
                ("active", "on"),
                ("events", "key.created"),
            ],
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let id = location(&made).rsplit('/').next().unwrap().to_owned();
    let sent = app
        .post_form(&format!("/settings/webhooks/{id}/test"), &[])
        .await;
    assert_eq!(sent.status().as_u16(), 303);
    let delivery = newest(app, "webhook_deliveries", "endpoint_id", &id).await;
    (id, delivery)
}

/// Everything of one organization a path can name, made through its own
/// admin's console (`admin`), its demo data and its own sign-ins.
async fn fixture(app: &TestApp, admin: &TestApp, org: &OrgId, email: &str, employee: &str) -> Ids {
    let mut ids = Ids::default();
    let admin_id = newest(app, "admins", "email", email).await;
    let created = admin
        .create_app_for(
            "employee",
            "Staff app",
            "client_app",
            &["services:read"],
            &["services:read"],
        )
        .await;
    ids.0
        .insert("key", admin.key_ids(&created.id).await.remove(0));
    ids.0.insert("app", created.id.clone());
    let employee_id = invited_employee(admin, "Dara Lopes", employee).await;
    if employee == EMAIL {
        sign_in(admin, &created).await;
        ids.0.insert(
            "family",
            newest(
                app,
                "token_families",
                "subject",
                &format!("employee:{employee_id}"),
            )
            .await,
        );
    }
    ids.0.insert("employee", employee_id);
    ids.0.insert(
        "guest",
        newest(app, "guests", "organization_id", org.as_str()).await,
    );
    let invited = admin
        .post_form(
            "/admins",
            &[("email", &format!("new.{email}")), ("role", "limited")],
        )
        .await;
    assert!(invited.status().is_redirection(), "{}", invited.status());
    ids.0.insert(
        "invitation",
        newest(app, "admin_links", "organization_id", org.as_str()).await,
    );
    admin_token(admin, "CI", &["manage:apps:read"]).await;
    ids.0.insert(
        "admin_token",
        newest(app, "admin_tokens", "admin_id", &admin_id).await,
    );
    ids.0.insert(
        "admin_session",
        newest(app, "sessions", "admin_id", &admin_id).await,
    );
    let (passkey_admin, passkey) = (admin_id.clone(), keyward::db::new_id());
    let stored = passkey.clone();
    app.db()
        .run(move |conn| {
            keyward::db::models::admin_passkey::AdminPasskey::insert(
                conn,
                &stored,
                &passkey_admin.as_str().into(),
                "Laptop",
                &format!("credential-{stored}"),
                "{}",
                keyward::clock::now(),
            )
            .map_err(DbError::from)
        })
        .await
        .unwrap();
    ids.0.insert("passkey", passkey);
    let (webhook, delivery) = webhook_and_delivery(admin).await;
    ids.0.insert("webhook", webhook);
    ids.0.insert("delivery", delivery);
    ids.0.insert("admin", admin_id);
    ids
}

/// The audit trail of `org`: `(actor, target id)` of every record.
async fn trail(app: &TestApp, org: &OrgId) -> Vec<(String, Option<String>)> {
    use keyward::db::schema::audit_events::dsl::*;
    let org = org.clone();
    app.db()
        .run(move |conn| {
            audit_events
                .filter(organization_id.eq(org))
                .select((actor_label, target_id))
                .load::<(String, Option<String>)>(conn)
                .map_err(DbError::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn every_console_and_api_route_answers_404_on_another_organizations_ids() {
    let app = spawn_app().await;
    let a_key = app.demo_key().await;
    let a_admin = app.signed_in_admin().await;
    let operator = app.operator("ops@platform.example").await;
    let made = operator
        .post_form(
            "/operator/organizations",
            &new_org("Blue Salon", "blue", B_ADMIN, true),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let b = first_admin_joins(&app, B_ADMIN).await;
    let (a_org, b_org) = (app.org_id().await, org_by_slug(&app, "blue").await);
    assert_ne!(a_org, b_org);
    let b_key = {
        let (org, digest_key) = (b_org.clone(), app.state.digest_key.clone());
        let hash = app
            .state
            .hasher
            .hash("kws_demo-secret-for-b")
            .await
            .unwrap();
        let demo = app
            .db()
            .run(move |conn| keyward::demo::create(conn, &org, &digest_key, &hash))
            .await
            .unwrap();
        secrecy::ExposeSecret::expose_secret(&demo.key).to_owned()
    };
    let b_ids = fixture(&app, &b, &b_org, B_ADMIN, EMAIL).await;
    let a_ids = fixture(&app, &app, &a_org, &a_admin.email, "eli@main.example").await;
    let b_trail = trail(&app, &b_org).await;

    // The console: every route with ids, every method, as A's admin.
    let mut tried = 0;
    let mut failures = Vec::new();
    for (pattern, methods) in console_routes() {
        for path in concrete(&pattern, &b_ids, &a_ids) {
            for method in &methods {
                let response = if *method == "GET" {
                    app.get(&path).await
                } else {
                    // A well-formed form, as the admin's own page would send:
                    // the only field any of these forms requires.
                    app.post_form(&path, &[("role", "limited")]).await
                };
                if response.status().as_u16() != 404 {
                    failures.push(format!("{} {method} {pattern}", response.status().as_u16()));
                }
                tried += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(tried > 60, "{tried} requests");

    // The platform API: every route with an id, with A's key on B's ids.
    let mut b_resources: BTreeMap<&str, String> = BTreeMap::new();
    for route in keyward::routes::api::routes() {
        if !route.path.contains("{id}") {
            continue;
        }
        if !b_resources.contains_key(route.resource) {
            let id = if route.resource == "available_slots" {
                b_slot(&app, &b_key).await
            } else {
                let (status, body) = app
                    .api_get(
                        &format!("/api/v2/{}?page%5Bsize%5D=1", route.resource),
                        &b_key,
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                body["data"][0]["id"]
                    .as_str()
                    .expect("one of B's")
                    .to_owned()
            };
            b_resources.insert(route.resource, id);
        }
        let path = route.path.replace("{id}", &b_resources[route.resource]);
        let body = json!({ "data": { "type": route.resource, "id": b_resources[route.resource], "attributes": {} } });
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let mut request = app.api(method.clone(), &path, Some(&format!("apikey {a_key}")));
        if method != Method::GET {
            request = request
                .header("content-type", "application/vnd.api+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, body["errors"][0]["code"].as_str()),
            (404, Some("not_found")),
            "{} {} with the other organization's key: {body}",
            route.method,
            route.path
        );
    }
    // A's lists hold none of B's.
    for (resource, id) in &b_resources {
        if *resource == "available_slots" {
            continue;
        }
        let (status, body) = app
            .api_get(&format!("/api/v2/{resource}?page%5Bsize%5D=100"), &a_key)
            .await;
        assert_eq!(status, 200);
        assert!(!body.to_string().contains(id.as_str()), "{resource}");
    }

    // The management API: A's admin token on B's apps, keys and staff.
    let a_token = admin_token(
        &app,
        "isolation",
        &["manage:apps:read", "manage:keys:read", "manage:staff:read"],
    )
    .await;
    for path in [
        format!("/api/v1/manage/apps/{}", b_ids.get("app")),
        format!("/api/v1/manage/apps/{}/keys", b_ids.get("app")),
        format!(
            "/api/v1/manage/apps/{}/keys/{}",
            b_ids.get("app"),
            b_ids.get("key")
        ),
        format!(
            "/api/v1/manage/apps/{}/keys/{}",
            a_ids.get("app"),
            b_ids.get("key")
        ),
        format!("/api/v1/manage/staff/{}", b_ids.get("employee")),
    ] {
        let (status, _, body) = curl(&app, "GET", &path, &a_token, None, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (_, _, apps) = curl(&app, "GET", "/api/v1/manage/apps", &a_token, None, None).await;
    assert!(!apps.to_string().contains(b_ids.get("app")));

    // An access token of B's employee reads B's, not A's.
    let (a_service_status, _) = app
        .api_get("/api/v2/services?page%5Bsize%5D=1", &a_key)
        .await;
    assert_eq!(a_service_status, 200);

    // Nothing of A's attempts reached B's trail, and neither trail names the other.
    assert_eq!(trail(&app, &b_org).await, b_trail, "B's trail is as it was");
    let a_trail = trail(&app, &a_org).await;
    for (actor, target) in &a_trail {
        assert_ne!(actor, B_ADMIN);
        for kind in ["app", "key", "employee", "webhook", "admin"] {
            assert_ne!(
                target.as_deref(),
                Some(b_ids.get(kind)),
                "{kind} in A's trail"
            );
        }
    }
    for (actor, target) in trail(&app, &b_org).await {
        assert_ne!(actor, a_admin.email);
        for kind in ["app", "key", "employee", "webhook", "admin"] {
            assert_ne!(
                target.as_deref(),
                Some(a_ids.get(kind)),
                "{kind} in B's trail"
            );
        }
    }
    // B's key still works: nothing of B's was changed.
    assert_eq!(app.api_get("/api/v2/services", &b_key).await.0, 200);
}

/// A free slot of one of B's services, from B's own API.
async fn b_slot(app: &TestApp, b_key: &str) -> String {
    let (_, services) = app
        .api_get("/api/v2/services?page%5Bsize%5D=1", b_key)
        .await;
    let service = services["data"][0]["id"].as_str().unwrap().to_owned();
    let today = keyward::clock::now().date();
    for days in 1..15 {
        let date = today + time::Duration::days(days);
        let (status, body) = app
            .api_get(
                &format!(
                    "/api/v2/available_slots?filter%5Bservice%5D={service}&filter%5Bdate%5D={date}"
                ),
                b_key,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        if let Some(id) = body["data"][0]["id"].as_str() {
            return id.to_owned();
        }
    }
    panic!("no free slot of B's in two weeks");
}

/// One step of the property test, acting in one organization on an object
/// picked among every object made so far, in either organization.
#[derive(Debug, Clone)]
enum Step {
    NewApp,
    NewKey { app: usize },
    KeyActive { key: usize, active: bool },
    DeleteKey { key: usize },
    AppActive { app: usize, active: bool },
    NewEmployee,
    EmployeeLeft { employee: usize, left: bool },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Step::NewApp),
        any::<usize>().prop_map(|app| Step::NewKey { app }),
        (any::<usize>(), any::<bool>()).prop_map(|(key, active)| Step::KeyActive { key, active }),
        any::<usize>().prop_map(|key| Step::DeleteKey { key }),
        (any::<usize>(), any::<bool>()).prop_map(|(app, active)| Step::AppActive { app, active }),
        Just(Step::NewEmployee),
        (any::<usize>(), any::<bool>())
            .prop_map(|(employee, left)| Step::EmployeeLeft { employee, left }),
    ]
}

/// What the test expects to exist: each object with its organization and state.
#[derive(Debug, Default)]
struct Model {
    apps: Vec<(usize, keyward::domain::AppId, bool)>,
    keys: Vec<(
        usize,
        keyward::domain::AppId,
        keyward::domain::KeyId,
        bool,
        bool,
    )>,
    employees: Vec<(usize, keyward::domain::EmployeeId, bool)>,
}

/// Runs `steps` through the services, as the console and the APIs do, and
/// checks that an action on the other organization's object is NotFound and
/// changes nothing, and that each organization's lists and trail hold only
/// its own.
fn run_interleaving(
    conn: &mut keyward::db::DbConn,
    orgs: &[OrgId; 2],
    digest_key: &keyward::secrets::DigestKey,
    secret_hash: &str,
    steps: &[(usize, Step)],
) -> Result<(), proptest::test_runner::TestCaseError> {
    use keyward::db::models::{Actor, ApiKey, App, AppDetails};
    use keyward::db::write_tx;
    use keyward::domain::scopes::PermissionSet;
    use keyward::domain::{AppUri, Description, EmailAddress, LoginUserType, Name, SourceApp};
    use keyward::services::{self, OpError};
    use proptest::{prop_assert, prop_assert_eq};

    let actor = Actor::system("interleaving");
    let mut model = Model::default();
    let permissions = PermissionSet::from_stored("services:read");
    let unique = keyward::db::new_id().replace('-', "")[20..].to_owned();
    // The other organization's object must be NotFound; one's own anything
    // but NotFound (a limit or a state may refuse it).
    let expect = |mine: bool,
                  result: &Result<(), OpError>|
     -> Result<(), proptest::test_runner::TestCaseError> {
        match result {
            Err(OpError::NotFound) => prop_assert!(!mine, "one's own object was not found"),
            Err(e) if !mine => prop_assert!(false, "another's object gave {:?}, not NotFound", e),
            Ok(()) if !mine => prop_assert!(false, "another organization's object was changed"),
            Err(e @ (OpError::Db(_) | OpError::Internal(_))) => {
                prop_assert!(false, "a fault: {:?}", e)
            }
            _ => {}
        }
        Ok(())
    };
    for (n, (side, step)) in steps.iter().enumerate() {
        let org = &orgs[*side];
        match step {
            Step::NewApp => {
                let details = AppDetails {
                    name: Name::parse(&format!("App {n} {}", &unique[..8])).unwrap(),
                    uri: AppUri::parse("https://example.com/app").unwrap(),
                    description: Description::default(),
                    login_user_type: LoginUserType::Guest,
                    source_app: SourceApp::ClientApp,
                    post_login: Vec::new(),
                    post_logout: Vec::new(),
                };
                let id = write_tx(conn, |conn| -> Result<_, OpError> {
                    let id = services::apps::create_draft(
                        conn,
                        org,
                        &actor,
                        &details,
                        &format!("{unique}-{n}"),
                    )?;
                    services::apps::wizard_scopes(
                        conn,
                        org,
                        &actor,
                        &id,
                        &permissions,
                        &PermissionSet::default(),
                    )?;
                    services::apps::wizard_new_secret(conn, org, &actor, &id, secret_hash)?;
                    services::apps::wizard_secrets_noted(conn, org, &id)?;
                    services::apps::wizard_key_done(conn, org, &id)?;
                    services::apps::wizard_finish(conn, org, &actor, &id)?;
                    Ok(id)
                });
                match id {
                    Ok(id) => model.apps.push((*side, id, true)),
                    Err(e) => prop_assert!(matches!(e, OpError::Conflict { .. }), "{e:?}"),
                }
            }
            Step::NewKey { app } if !model.apps.is_empty() => {
                let (owner, app_id, _) = model.apps[app % model.apps.len()].clone();
                let fields = services::keys::KeyFields {
                    name: Name::parse(&format!("Key {n}")).unwrap(),
                    description: Description::default(),
                    expires_at: None,
                    active: true,
                    permissions,
                    allowed_ips: keyward::domain::IpAllowlist::default(),
                    rate_limits: keyward::domain::RateLimits::default(),
                };
                let made = write_tx(conn, |conn| {
                    services::keys::create(conn, org, &actor, &app_id, &fields, None, digest_key)
                });
                if let Ok((key, _)) = &made {
                    model
                        .keys
                        .push((owner, app_id, key.id.clone(), true, false));
                }
                expect(owner == *side, &made.map(drop))?;
            }
            Step::KeyActive { key, active } if !model.keys.is_empty() => {
                let at = key % model.keys.len();
                let (owner, app_id, key_id, _, deleted) = model.keys[at].clone();
                let result = write_tx(conn, |conn| {
                    services::keys::set_active(conn, org, &actor, &app_id, &key_id, *active)
                });
                if deleted {
                    prop_assert!(matches!(result, Err(OpError::NotFound)));
                    continue;
                }
                if result.is_ok() {
                    model.keys[at].3 = *active;
                }
                expect(owner == *side, &result.map(drop))?;
            }
            Step::DeleteKey { key } if !model.keys.is_empty() => {
                let at = key % model.keys.len();
                let (owner, app_id, key_id, _, deleted) = model.keys[at].clone();
                let result = write_tx(conn, |conn| {
                    services::keys::delete(conn, org, &actor, &app_id, &key_id)
                });
                if deleted {
                    prop_assert!(matches!(result, Err(OpError::NotFound)));
                    continue;
                }
                if result.is_ok() {
                    model.keys[at].4 = true;
                }
                expect(owner == *side, &result.map(drop))?;
            }
            Step::AppActive { app, active } if !model.apps.is_empty() => {
                let at = app % model.apps.len();
                let (owner, app_id, _) = model.apps[at].clone();
                let result = write_tx(conn, |conn| {
                    services::apps::set_active(conn, org, &actor, &app_id, *active)
                });
                if result.is_ok() {
                    model.apps[at].2 = *active;
                }
                expect(owner == *side, &result)?;
            }
            Step::NewEmployee => {
                let email =
                    EmailAddress::parse(&format!("e{n}.{}@staff.example", &unique[..8])).unwrap();
                let made = write_tx(conn, |conn| {
                    services::staff::add(
                        conn,
                        org,
                        &actor,
                        &Name::parse("Sam Staff").unwrap(),
                        &email,
                    )
                });
                match made {
                    Ok(employee) => model.employees.push((*side, employee.id, true)),
                    Err(e) => prop_assert!(false, "{e:?}"),
                }
            }
            Step::EmployeeLeft { employee, left } if !model.employees.is_empty() => {
                let at = employee % model.employees.len();
                let (owner, id, _) = model.employees[at].clone();
                let result = write_tx(conn, |conn| {
                    services::staff::set_active(conn, org, &actor, &id, !*left)
                });
                if result.is_ok() {
                    model.employees[at].2 = !*left;
                }
                expect(owner == *side, &result.map(drop))?;
            }
            _ => {}
        }
    }

    // Each organization lists exactly its own, as the model says.
    for (side, org) in orgs.iter().enumerate() {
        let listed: Vec<App> = App::list_page(conn, org, None, None, 10_000).unwrap();
        for (owner, id, active) in &model.apps {
            let found = listed.iter().find(|a| &a.id == id);
            prop_assert_eq!(found.is_some(), *owner == side, "app {} in {}", id, side);
            if let Some(app) = found {
                prop_assert_eq!(app.status == "active", *active, "app {}", id);
            }
        }
        let staff = keyward::db::models::platform::Employee::list_all(conn, org).unwrap();
        for (owner, id, active) in &model.employees {
            let found = staff.iter().find(|e| &e.id == id);
            prop_assert_eq!(found.is_some(), *owner == side);
            if let Some(e) = found {
                prop_assert_eq!(e.active, *active);
            }
        }
        // The trail names only its own objects.
        let others: Vec<String> = model
            .apps
            .iter()
            .filter(|(o, ..)| *o != side)
            .map(|(_, id, _)| id.to_string())
            .chain(
                model
                    .keys
                    .iter()
                    .filter(|k| k.0 != side)
                    .map(|k| k.2.to_string()),
            )
            .chain(
                model
                    .employees
                    .iter()
                    .filter(|e| e.0 != side)
                    .map(|e| e.1.to_string()),
            )
            .collect();
        let trail: Vec<Option<String>> = {
            use keyward::db::schema::audit_events::dsl::*;
            audit_events
                .filter(organization_id.eq(org))
                .select(target_id)
                .load(conn)
                .unwrap()
        };
        for target in trail.iter().flatten() {
            prop_assert!(!others.contains(target), "{} in the other's trail", target);
        }
    }
    for (_, app_id, key_id, active, deleted) in &model.keys {
        let stored = ApiKey::find(conn, app_id, key_id).unwrap();
        prop_assert_eq!(stored.is_none(), *deleted, "key {}", key_id);
        if let Some(key) = stored {
            prop_assert_eq!(key.active, *active, "key {}", key_id);
        }
    }
    Ok(())
}

#[actix_web::test]
async fn random_interleavings_of_actions_in_two_organizations_never_cross() {
    use proptest::test_runner::{Config, TestRunner};
    let app = spawn_app().await;
    let operator = app.operator("ops@platform.example").await;
    let made = operator
        .post_form(
            "/operator/organizations",
            &new_org("Blue Salon", "blue", B_ADMIN, true),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let orgs = [app.org_id().await, org_by_slug(&app, "blue").await];
    let hash = app
        .state
        .hasher
        .hash("kws_interleaving-secret")
        .await
        .unwrap();
    let (db, digest_key) = (app.state.db.clone(), app.state.digest_key.clone());
    tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        });
        let steps = proptest::collection::vec((0..2usize, step()), 1..30);
        runner
            .run(&steps, |steps| {
                let mut conn = db.get().expect("a connection");
                run_interleaving(&mut conn, &orgs, &digest_key, &hash, &steps)
            })
            .unwrap();
    })
    .await
    .unwrap();
}
