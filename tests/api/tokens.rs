//! The keys that sign access tokens: made at first start, sealed in the
//! database, published at `/.well-known/jwks.json`, rotated from Settings.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyward::db::DbError;
use keyward::db::models::Role;
use keyward::db::models::token::SigningKey;
use keyward::secrets::MasterKey;

use crate::helpers::{TestApp, location, spawn_app};

async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, JwkSet) {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    let set: JwkSet = serde_json::from_str(&response.text().await.unwrap()).expect("a JWK set");
    (headers, set)
}

async fn signing_keys(app: &TestApp) -> Vec<SigningKey> {
    use diesel::prelude::*;
    use keyward::db::schema::signing_keys::dsl::*;
    app.db()
        .run(|conn| {
            signing_keys
                .order(created_at.asc())
                .select(SigningKey::as_select())
                .load(conn)
                .map_err(DbError::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_key_set_publishes_the_signing_key_and_it_verifies_what_that_key_signs() {
    let app = spawn_app().await;
    let (headers, set) = jwks(&app).await;
    assert_eq!(
        headers["content-type"],
        "application/jwk-set+json; charset=utf-8"
    );
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(set.keys.len(), 1);
    let raw: serde_json::Value = serde_json::from_str(
        &app.get("/.well-known/jwks.json")
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let key = &raw["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &"OKP".into(),
            &"Ed25519".into(),
            &"EdDSA".into(),
            &"sig".into()
        )
    );
    assert!(key.get("d").is_none(), "no private part is published");

    // The stored private key opens with this server's secret key only.
    let stored = signing_keys(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        Some(stored[0].kid.as_str()),
        set.keys[0].common.key_id.as_deref()
    );
    let signer = keyward::jwt::Signer::open(
        &stored[0].kid,
        &stored[0].private_key_sealed,
        &app.state.sealing_key,
    )
    .expect("the sealed key opens");
    let other = MasterKey::from_bytes(b"not this server's secret key, 32+").sealing_key();
    assert!(
        keyward::jwt::Signer::open(&stored[0].kid, &stored[0].private_key_sealed, &other).is_none()
    );

    // What it signs verifies against the published key, read as a JWK.
    let now = keyward::clock::now().assume_utc().unix_timestamp();
    let claims = keyward::jwt::AccessClaims {
        iss: app.state.settings.public_url.to_string(),
        sub: "employee:e1".into(),
        aud: "api".into(),
        client_id: "app".into(),
        scope: "services:read".into(),
        exp: now + 60,
        iat: now,
        jti: "j".into(),
        sid: "s".into(),
        user_type: "employee".into(),
        org_id: app.org_id().await.to_string(),
    };
    let token = signer.sign(&claims).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["api"]);
    let decoded = jsonwebtoken::decode::<keyward::jwt::AccessClaims>(
        &token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("verifies against the JWKS");
    assert_eq!(decoded.claims, claims);

    // A second instance on the same database signs with the same key.
    let sibling = app.sibling().await;
    let (_, again) = jwks(&sibling).await;
    assert_eq!(again.keys.len(), 1);
    assert_eq!(again.keys[0].common.key_id, set.keys[0].common.key_id);
    let created = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a.0 == "signing.key_created")
        .count();
    assert_eq!(created, 1);
}

#[actix_web::test]
async fn a_rotation_signs_with_a_new_key_and_keeps_the_old_one_published_for_its_tokens() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let before = signing_keys(&app).await;
    assert!(
        app.get_html("/settings", 200)
            .await
            .contains(&before[0].kid)
    );
    let response = app.post_form("/settings/signing-key", &[]).await;
    assert_eq!(location(&response), "/settings");
    let after = signing_keys(&app).await;
    assert_eq!(after.len(), 2);
    let (old, new) = (&after[0], &after[1]);
    assert_eq!(old.kid, before[0].kid);
    assert!(old.retired_at.is_some() && new.retired_at.is_none());
    // Published for the access token lifetime (15 minutes) and a margin.
    let published = old.published_until.unwrap() - old.retired_at.unwrap();
    assert_eq!(published, time::Duration::minutes(20));
    let page = app.get_html("/settings", 200).await;
    assert!(page.contains(&new.kid) && page.contains("A new signing key"));
    let (_, set) = jwks(&app).await;
    let kids: Vec<_> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, vec![old.kid.clone(), new.kid.clone()]);
    let changes = app.audit_changes("signing.key_rotated").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["kid"]["from"], old.kid.as_str());
    assert_eq!(changes[0]["kid"]["to"], new.kid.as_str());

    // Once its tokens have expired, the old key is no longer published.
    {
        use diesel::prelude::*;
        use keyward::db::schema::signing_keys::dsl::*;
        let past = keyward::clock::now() - time::Duration::seconds(1);
        let retired = old.kid.clone();
        app.db()
            .run(move |conn| {
                diesel::update(signing_keys.find(retired))
                    .set(published_until.eq(past))
                    .execute(conn)
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
    }
    let (_, set) = jwks(&app).await;
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.keys[0].common.key_id.as_deref(), Some(new.kid.as_str()));
}

#[actix_web::test]
async fn a_limited_admin_cannot_rotate_the_signing_key() {
    let app = spawn_app().await;
    app.signed_in_as("lim@example.com", Role::Limited).await;
    let page = app.get_html("/settings", 200).await;
    assert!(!page.contains("Rotate signing key"));
    let response = app.post_form("/settings/signing-key", &[]).await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(signing_keys(&app).await.len(), 1);
}

fn lifetimes<'a>(
    access: &'a str,
    refresh: &'a str,
    idle: &'a str,
    grace: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("access_minutes", access),
        ("refresh_days", refresh),
        ("idle_days", idle),
        ("grace_seconds", grace),
    ]
}

#[actix_web::test]
async fn token_lifetimes_are_checked_saved_and_audited() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let page = app.get_html("/settings", 200).await;
    assert_eq!(
        crate::helpers::input_value(&page, "access_minutes").as_deref(),
        Some("15")
    );
    let bad = app
        .post_form("/settings/tokens", &lifetimes("2", "30", "40", "x"))
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let body = crate::helpers::html_unescape(&bad.text().await.unwrap());
    assert!(body.contains("Use from 5 to 1440 minutes."));
    assert!(body.contains("Enter a whole number of seconds."));
    assert_eq!(
        crate::helpers::input_value(&body, "access_minutes").as_deref(),
        Some("2"),
        "what was typed stays"
    );
    let bad = app
        .post_form("/settings/tokens", &lifetimes("15", "7", "8", "10"))
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    assert!(
        crate::helpers::html_unescape(&bad.text().await.unwrap())
            .contains("A sign-in cannot stay idle longer than it lasts")
    );
    assert!(
        app.audit_changes("organization.token_lifetimes_changed")
            .await
            .is_empty()
    );

    let ok = app
        .post_form("/settings/tokens", &lifetimes("60", "14", "3", "0"))
        .await;
    assert_eq!(location(&ok), "/settings");
    let page = app.get_html("/settings", 200).await;
    assert!(page.contains("The token lifetimes were saved."));
    assert_eq!(
        crate::helpers::input_value(&page, "access_minutes").as_deref(),
        Some("60")
    );
    let changes = app
        .audit_changes("organization.token_lifetimes_changed")
        .await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["access_token_minutes"]["from"], 15);
    assert_eq!(changes[0]["access_token_minutes"]["to"], 60);
    assert_eq!(changes[0]["refresh_grace_seconds"]["to"], 0);

    // Lowered again, then rotated: the old key stays published for the
    // longest lifetime its tokens may have had.
    app.post_form("/settings/tokens", &lifetimes("15", "14", "3", "0"))
        .await;
    app.post_form("/settings/signing-key", &[]).await;
    let keys = signing_keys(&app).await;
    let published = keys[0].published_until.unwrap() - keys[0].retired_at.unwrap();
    assert_eq!(published, time::Duration::minutes(65));
    assert_eq!(keys[1].max_token_minutes, 15);

    let limited = app.sibling().await;
    limited.signed_in_as("lim@example.com", Role::Limited).await;
    let response = limited
        .post_form("/settings/tokens", &lifetimes("30", "14", "3", "0"))
        .await;
    assert_eq!(response.status().as_u16(), 403);
    let page = limited.get_html("/settings", 200).await;
    assert!(page.contains("15 minutes") && !page.contains("Save token lifetimes"));
}
