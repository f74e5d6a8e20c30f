//! An app's API keys: creation shown once, edits, the Active switch, deletion, limits.

use crate::helpers::{TestApp, captured_logs, created_id, input_value, location, spawn_app};

async fn ready(app: &TestApp) -> String {
    ready_app(app).await.id
}

async fn ready_app(app: &TestApp) -> crate::helpers::CreatedApp {
    app.signed_in_admin().await;
    app.create_app(
        "Web Booking",
        "external_webstore",
        &["services:read", "appointments:read", "appointments:create"],
        &[],
    )
    .await
}

#[actix_web::test]
async fn a_new_key_is_shown_once_and_nowhere_else_ever() {
    let app = spawn_app().await;
    let wizard = ready_app(&app).await;
    let app_id = wizard.id.clone();

    let form = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    for label in [
        ">Name<",
        ">Description<",
        ">Expiration<",
        "Custom date</label>",
        "Active",
        "Select permissions",
        ">Create<",
    ] {
        assert!(form.contains(label), "{label}");
    }
    // Least privilege: no permission is ticked on a new key.
    assert!(form.contains(r#"name="permissions" value="services:read">"#));
    assert!(!form.contains(r#"name="permissions" value="services:read" checked"#));
    let response = app
        .post_new_key(&app_id, "Reporting", &["services:read"], "")
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        !location(&response).contains("kw_"),
        "the token never travels in a URL"
    );
    let created = response.text().await.unwrap();
    let token = input_value(&created, "new-api-key").unwrap();
    assert!(created.contains("will not be shown again"));

    // Not on any page, not in the database, not in the logs.
    let key_id = app.key_ids(&app_id).await.last().unwrap().clone();
    for path in [
        format!("/apps/{app_id}"),
        format!("/apps/{app_id}/keys/{key_id}/edit"),
        "/apps".to_owned(),
        "/audit".to_owned(),
    ] {
        let html = app.get_html(&path, 200).await;
        assert!(!html.contains(&token), "{path} shows the token");
    }
    let dump = app.database_dump().await;
    assert!(dump.contains(&key_id), "the dump does hold the key's row");
    assert!(!dump.contains(&token), "the token is not stored");
    assert!(!dump.contains(&token[15..41]), "nor its secret part");
    let logs = captured_logs();
    assert!(logs.contains("/apps/{id}/keys"), "the request was logged");
    assert!(
        !logs.contains(&token) && !logs.contains(&token[15..41]),
        "the token is never logged"
    );

    // The browser resubmits the form (reload): no second key, no token.
    let html = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    assert!(!html.contains(&token));
    let stored = app.stored_key(&app_id, &key_id).await.unwrap();
    assert!(stored.creation_nonce.is_some());
}

#[actix_web::test]
async fn resubmitting_the_create_form_makes_no_second_key_and_shows_no_token() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let html = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    let nonce = crate::helpers::hidden_value(&html, "nonce").unwrap();
    let csrf = crate::helpers::csrf_in(&html);
    let fields = [
        ("name", "Once"),
        ("permissions", "services:read"),
        ("active", "on"),
        ("nonce", nonce.as_str()),
        ("csrf_token", csrf.as_str()),
    ];
    // Post/redirect/get: the answer to the form is a redirect to the page
    // that shows the token, once; never the token in an address.
    let first = app.post_raw(&format!("/apps/{app_id}/keys"), &fields).await;
    assert_eq!(first.status().as_u16(), 303);
    let created = location(&first);
    assert!(created.ends_with("/created") && !created.contains("kw_"));
    let token = input_value(&app.get_html(&created, 200).await, "new-api-key").unwrap();
    // Opened again (Back, a reload): a normal page, without the token.
    let later = app.get_html(&created, 200).await;
    assert!(later.contains("Its token was shown once and is not shown again"));
    assert!(!later.contains(&token) && input_value(&later, "new-api-key").is_none());
    let again = app.post_raw(&format!("/apps/{app_id}/keys"), &fields).await;
    assert_eq!(again.status().as_u16(), 303);
    let page = app.get_html(&location(&again), 200).await;
    assert!(page.contains("its token is not shown again"));
    assert!(!page.contains(&token));
    assert_eq!(
        app.key_ids(&app_id).await.len(),
        2,
        "the wizard's key and this one"
    );
}

#[actix_web::test]
async fn a_second_key_can_hold_fewer_permissions_but_never_more_than_the_app() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    app.new_key(&app_id, "Read only", &["services:read"]).await;
    let id = app.key_ids(&app_id).await.last().unwrap().clone();
    assert_eq!(
        app.stored_key(&app_id, &id).await.unwrap().permissions,
        "services:read"
    );
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("Read only"));

    let response = app
        .post_new_key(&app_id, "Greedy", &["payments:read"], "")
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Choose among the app&#39;s APIKEY GROUPS permissions.")
    );
}

#[actix_web::test]
async fn the_key_form_checks_every_field() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let before = app.key_ids(&app_id).await.len();
    let response = app
        .post_new_key(&app_id, " ", &[], "2001-01-01T00:00")
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a name."));
    assert!(html.contains("Choose a time in the future"));
    assert!(html.contains("Select at least one permission."));
    let response = app
        .post_new_key(&app_id, "Bad date", &["services:read"], "next tuesday")
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Enter a date and time")
    );
    assert_eq!(app.key_ids(&app_id).await.len(), before);
}

#[actix_web::test]
async fn an_expiring_key_shows_its_date_and_an_expired_key_shows_as_expired() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let response = app
        .post_new_key(&app_id, "Soon", &["services:read"], "2099-12-31T23:30")
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("2099-12-31 23:30 UTC"));
    assert!(page.contains("Never"), "the wizard's key never expires");

    use diesel::prelude::*;
    let id = app.key_ids(&app_id).await.last().unwrap().clone();
    let expired = id.clone();
    let past = keyward::clock::now() - time::Duration::hours(1);
    app.db()
        .run(move |conn| {
            diesel::update(keyward::db::schema::api_keys::table.find(expired))
                .set(keyward::db::schema::api_keys::expires_at.eq(Some(past)))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    let (keys, retired) = page.split_at(page.find(r#"id="retired-keys""#).unwrap());
    assert!(
        !keys.contains(&format!(r#"id="key-{id}""#)),
        "no longer among the keys"
    );
    assert!(retired.contains(&format!(r#"id="retired-{id}""#)) && retired.contains("Expired"));
}

#[actix_web::test]
async fn edit_changes_everything_but_the_token() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let token = app
        .new_key(&app_id, "Before", &["services:read", "appointments:read"])
        .await;
    let id = app.key_ids(&app_id).await.last().unwrap().clone();
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{id}/edit"), 200)
        .await;
    assert!(edit.contains(r#"value="Before""#));
    assert!(!edit.contains(&token));
    let response = app
        .post_form(
            &format!("/apps/{app_id}/keys/{id}/edit"),
            &[
                ("name", "After"),
                ("description", "nightly sync"),
                ("expires_at", "2098-01-02T03:04"),
                ("permissions", "appointments:read"),
            ],
        )
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    let stored = app.stored_key(&app_id, &id).await.unwrap();
    assert_eq!(stored.name, "After");
    assert_eq!(stored.description, "nightly sync");
    assert_eq!(stored.permissions, "appointments:read");
    assert!(!stored.active, "Active was unticked");
    assert!(stored.expires_at.is_some());
    let (_, _, target) = app
        .audit_actions()
        .await
        .into_iter()
        .rfind(|(a, _, _)| a == "key.edited")
        .unwrap();
    assert!(target.unwrap().starts_with("After ("));
}

#[actix_web::test]
async fn the_active_switch_takes_effect_and_is_audited() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let id = app.key_ids(&app_id).await[0].clone();
    let response = app
        .post_form(&format!("/apps/{app_id}/keys/{id}/inactivate"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    assert!(!app.stored_key(&app_id, &id).await.unwrap().active);
    assert!(
        app.get_html(&format!("/apps/{app_id}"), 200)
            .await
            .contains("it stopped working")
    );
    app.post_form(&format!("/apps/{app_id}/keys/{id}/activate"), &[])
        .await;
    assert!(app.stored_key(&app_id, &id).await.unwrap().active);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(
        actions.contains(&"key.inactivated".to_owned())
            && actions.contains(&"key.activated".to_owned())
    );
}

#[actix_web::test]
async fn only_an_inactive_key_can_be_deleted_after_confirmation() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let id = app.key_ids(&app_id).await[0].clone();
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(
        !page.contains("Delete API key"),
        "not offered for an active key"
    );
    // The app page says what deleting the app takes.
    assert!(page.contains("To delete this app, delete its key first"));
    assert!(!page.contains(">Delete app<"));
    let refused = app
        .post_form(&format!("/apps/{app_id}/keys/{id}/delete"), &[])
        .await;
    assert_eq!(refused.status().as_u16(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Only an inactive or expired key can be deleted.")
    );
    assert!(app.stored_key(&app_id, &id).await.is_some());

    app.post_form(&format!("/apps/{app_id}/keys/{id}/inactivate"), &[])
        .await;
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("Delete API key"));
    let confirm = app
        .get_html(&format!("/apps/{app_id}/keys/{id}/delete"), 200)
        .await;
    assert!(confirm.contains("for good"));
    let response = app
        .post_form(&format!("/apps/{app_id}/keys/{id}/delete"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    assert!(app.stored_key(&app_id, &id).await.is_none());
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(
        actions.contains(&"key.created".to_owned()),
        "the key's records stay"
    );
    assert!(actions.contains(&"key.deleted".to_owned()));
}

#[actix_web::test]
async fn the_twenty_first_key_is_refused_with_a_clear_message() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    for i in 2..=20 {
        app.new_key(&app_id, &format!("Key {i}"), &["services:read"])
            .await;
    }
    assert_eq!(app.key_ids(&app_id).await.len(), 20);
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("the most allowed"));
    assert!(!page.contains(">New API Key<"));
    let response = app
        .post_new_key(&app_id, "Key 21", &["services:read"], "")
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This app already has 20 API keys")
    );
    assert_eq!(app.key_ids(&app_id).await.len(), 20);
}

#[actix_web::test]
async fn an_expired_key_can_be_deleted_without_inactivating_it_first() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let id = app.key_ids(&app_id).await[0].clone();
    let past = keyward::clock::now() - time::Duration::hours(1);
    let expired = id.clone();
    app.db()
        .run(move |conn| {
            diesel::update(keyward::db::schema::api_keys::table.find(expired))
                .set(keyward::db::schema::api_keys::expires_at.eq(Some(past)))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    // It left the keys for the retired keys, where it can be deleted at once.
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    let retired = &page[page.find(r#"id="retired-keys""#).unwrap()..];
    assert!(retired.contains(&format!(r#"href="/apps/{app_id}/keys/{id}/delete""#)));
    app.get_html(&format!("/apps/{app_id}/keys/{id}/delete"), 200)
        .await;
    let response = app
        .post_form(&format!("/apps/{app_id}/keys/{id}/delete"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    assert!(app.stored_key(&app_id, &id).await.is_none());
    // With its last key gone, the app can be deleted.
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains(">Delete app<"));
    assert!(!page.contains("To delete this app"));
}

#[actix_web::test]
async fn the_key_list_sorts_searches_and_shows_descriptions() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    for name in ["Zeta", "alpha", "Mid"] {
        app.new_key(&app_id, name, &["services:read"]).await;
    }
    // Expiries and uses set straight in the database.
    let ids = app.key_ids(&app_id).await;
    let now = keyward::clock::now();
    let (zeta, alpha, mid) = (ids[1].clone(), ids[2].clone(), ids[3].clone());
    app.db()
        .run(move |conn| {
            use keyward::db::schema::api_keys::dsl::*;
            diesel::update(api_keys.find(&zeta))
                .set((
                    expires_at.eq(Some(now + time::Duration::days(3))),
                    last_used_at.eq(Some(now)),
                    description.eq("Nightly export"),
                ))
                .execute(conn)?;
            diesel::update(api_keys.find(&alpha))
                .set((
                    expires_at.eq(Some(now + time::Duration::days(30))),
                    last_used_at.eq(Some(now - time::Duration::days(2))),
                ))
                .execute(conn)?;
            diesel::update(api_keys.find(&mid))
                .set(expires_at.eq(Some(now + time::Duration::days(10))))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let order = |html: &str| -> Vec<&'static str> {
        let mut found: Vec<(usize, &'static str)> = ["Zeta", "alpha", "Mid", "First key"]
            .into_iter()
            // Each row's name links to the key's page.
            .filter_map(|n| html.find(&format!("\">{n}</a>")).map(|i| (i, n)))
            .collect();
        found.sort();
        found.into_iter().map(|(_, n)| n).collect()
    };
    let page = app
        .get_html(&format!("/apps/{app_id}?sort=name"), 200)
        .await;
    assert_eq!(order(&page), ["alpha", "First key", "Mid", "Zeta"]);
    assert!(page.contains("Nightly export"), "the description is shown");
    assert!(page.contains(r#"aria-sort="ascending"><a href="/apps/"#));
    let page = app
        .get_html(&format!("/apps/{app_id}?sort=expiry"), 200)
        .await;
    assert_eq!(order(&page), ["Zeta", "Mid", "alpha", "First key"]);
    let page = app
        .get_html(&format!("/apps/{app_id}?sort=last_used"), 200)
        .await;
    assert_eq!(order(&page)[..2], ["Zeta", "alpha"]);
    // The search appears with more than five keys, and finds by description.
    assert!(!page.contains("Search keys by name or description"));
    for name in ["Six", "Seven"] {
        app.new_key(&app_id, name, &["services:read"]).await;
    }
    let page = app
        .get_html(&format!("/apps/{app_id}?q=nightly"), 200)
        .await;
    assert!(page.contains("Search keys by name or description"));
    assert_eq!(order(&page), ["Zeta"]);
    let page = app
        .get_html(&format!("/apps/{app_id}?q=nothing-like-it"), 200)
        .await;
    assert!(page.contains("No key matches"));
    // The edit page says which key it edits.
    let key = app.stored_key(&app_id, &ids[1]).await.unwrap();
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{}/edit", ids[1]), 200)
        .await;
    let facts = &edit[edit.find("id=\"edited-key\"").expect("the key's facts")..];
    assert!(facts.contains(&key.masked()));
    assert!(facts.contains(">Created<") && facts.contains(">Last used<"));
    assert!(
        !facts[..facts.find("</dl>").unwrap()].contains("Never"),
        "Zeta was used"
    );
}

/// The radios of the expiry choices, as `(value, checked)`.
fn expiry_choices(form: &str) -> Vec<(String, bool)> {
    form.split("name=\"expires_in\" value=\"")
        .skip(1)
        .map(|rest| {
            let value = &rest[..rest.find('"').unwrap()];
            let tag = &rest[..rest.find('>').unwrap()];
            (value.to_owned(), tag.contains("checked"))
        })
        .collect()
}

#[actix_web::test]
async fn expiry_presets_follow_the_key_policy_and_dates_are_read_in_the_organization_s_zone() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    app.post_form(
        "/settings/organization",
        &[("name", "Salon"), ("time_zone", "Europe/Paris")],
    )
    .await;
    app.post_form(
        "/settings/policy",
        &[("default_days", "30"), ("max_days", "")],
    )
    .await;

    // The policy's default is chosen; Never is offered without a maximum;
    // each preset says the day it lands on.
    let form = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    let choices = expiry_choices(&form);
    let values: Vec<&str> = choices.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, ["7", "30", "60", "90", "365", "never", "custom"]);
    let checked: Vec<&str> = choices
        .iter()
        .filter(|c| c.1)
        .map(|c| c.0.as_str())
        .collect();
    assert_eq!(checked, ["30"]);
    let in_30 = keyward::clock::Zone::named("Europe/Paris")
        .unwrap()
        .datetime_local(keyward::clock::now() + time::Duration::days(30));
    assert!(
        form.contains(&format!("on {}", &in_30[..10])),
        "the date of 30 days"
    );
    assert!(form.contains("Times are in Europe/Paris."));

    // A maximum of 60 days: no 90 days, no year, no Never; a default that is
    // no preset is a custom date.
    app.post_form(
        "/settings/policy",
        &[("default_days", "45"), ("max_days", "60")],
    )
    .await;
    let form = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    let choices = expiry_choices(&form);
    let values: Vec<&str> = choices.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, ["7", "30", "60", "custom"]);
    assert!(choices.last().unwrap().1, "custom is chosen");
    assert!(input_value(&form, "expires_at").is_some_and(|v| v.len() == 16));
    app.post_form(
        "/settings/policy",
        &[("default_days", "30"), ("max_days", "")],
    )
    .await;

    // A preset counts from now.
    let before = keyward::clock::now();
    let seven = app
        .post_key_form(&app_id, "Week", &[("expires_in", "7")])
        .await;
    let week = app.stored_key(&app_id, &created_id(&seven)).await.unwrap();
    let expires = week.expires_at.unwrap();
    assert!(expires >= before + time::Duration::days(7));
    assert!(expires <= keyward::clock::now() + time::Duration::days(7));

    // A custom date is the organization's wall clock: 09:00 in Paris in
    // summer is 07:00 UTC, and the app's page shows it back in Paris time.
    let nine = app
        .post_key_form(
            &app_id,
            "Summer",
            &[("expires_in", "custom"), ("expires_at", &summer_day(9))],
        )
        .await;
    let key_id = created_id(&nine);
    let summer = app.stored_key(&app_id, &key_id).await.unwrap();
    assert_eq!(summer.expires_at.unwrap().hour(), 7);
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    let shown = format!("{} 09:00 CEST", &summer_day(9)[..10]);
    assert!(page.contains(&shown), "{shown}");
    assert!(page.contains(&format!("title=\"{} 07:00 UTC\"", &summer_day(9)[..10])));
    // The edit page shows the same wall clock, and saving it unchanged keeps
    // the instant.
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{key_id}/edit"), 200)
        .await;
    assert_eq!(input_value(&edit, "expires_at").unwrap(), summer_day(9));

    // The hour the clocks skip (last Sunday of March, 02:00 to 03:00) is
    // refused, and nothing is created.
    let count = key_count(&app, &app_id).await;
    let gap = spring_forward_gap();
    let refused = app
        .post_key_form(
            &app_id,
            "Gap",
            &[("expires_in", "custom"), ("expires_at", &gap)],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("does not exist in Europe/Paris"), "{body}");
    assert_eq!(key_count(&app, &app_id).await, count);
    // An unknown choice is refused too.
    let odd = app
        .post_key_form(&app_id, "Odd", &[("expires_in", "14")])
        .await;
    assert_eq!(odd.status().as_u16(), 422);

    // A key that never expires keeps Never through an edit after a maximum
    // is set: the maximum binds new expiries, and the form says Never.
    let forever = created_id(
        &app.post_key_form(&app_id, "Forever", &[("expires_in", "never")])
            .await,
    );
    app.post_form(
        "/settings/policy",
        &[("default_days", "30"), ("max_days", "60")],
    )
    .await;
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{forever}/edit"), 200)
        .await;
    assert!(edit.contains(r#"name="expires_in" value="never" checked"#));
    let saved = app
        .post_form(
            &format!("/apps/{app_id}/keys/{forever}/edit"),
            &[
                ("name", "Forever renamed"),
                ("expires_in", "never"),
                ("active", "on"),
                ("permissions", "services:read"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let kept = app.stored_key(&app_id, &forever).await.unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.expires_at),
        ("Forever renamed", None)
    );
    app.post_form(
        "/settings/policy",
        &[("default_days", "30"), ("max_days", "")],
    )
    .await;

    // The zone is picked from a list; a name not in it is refused.
    let settings = app.get_html("/settings", 200).await;
    assert!(settings.contains(r#"<select id="time_zone" name="time_zone""#));
    assert!(settings.contains("<option selected>Europe/Paris</option>"));
    assert!(settings.contains("<option>America/New_York</option>"));
    assert!(
        settings.contains(" CET</time>") || settings.contains(" CEST</time>"),
        "the signing key's date is in the zone"
    );
    for bad in ["Mars/Olympus", "Romance Standard Time", "europe/paris"] {
        let refused = app
            .post_form(
                "/settings/organization",
                &[("name", "Salon"), ("time_zone", bad)],
            )
            .await;
        assert_eq!(refused.status().as_u16(), 422, "{bad}");
    }
    // The audit trail's times are in the zone too, UTC on hover.
    let audit = app.get_html("/audit", 200).await;
    assert!(audit.contains(" CET</time>") || audit.contains(" CEST</time>"));
    assert!(audit.contains(" UTC\" data-relative>"));
}

async fn key_count(app: &TestApp, app_id: &str) -> i64 {
    let id = keyward::domain::AppId::from(app_id);
    app.db()
        .run(move |conn| {
            keyward::db::models::ApiKey::count_for_app(conn, &id)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

/// 1 July of next year at `hour`:00, as a `datetime-local` value.
fn summer_day(hour: u8) -> String {
    let year = keyward::clock::now().year() + 1;
    format!("{year}-07-01T{hour:02}:00")
}

/// 02:30 on the last Sunday of March next year, when clocks in Paris jump
/// from 02:00 to 03:00.
fn spring_forward_gap() -> String {
    let year = keyward::clock::now().year() + 1;
    let mut day = time::Date::from_calendar_date(year, time::Month::March, 31).unwrap();
    while day.weekday() != time::Weekday::Sunday {
        day = day.previous_day().unwrap();
    }
    format!("{day}T02:30")
}
