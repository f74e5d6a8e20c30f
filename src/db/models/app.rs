//! Applications: each system that integrates with the platform.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::apps;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AdminId, AppId, LoginUserType, OrgId, SourceApp};

/// Where an app is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Being set up in the wizard.
    Draft,
    /// Its keys work.
    Active,
    /// All its keys are stopped.
    Inactive,
}

impl AppStatus {
    /// Stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            _ => Self::Draft,
        }
    }
}

/// The wizard's next step for a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WizardStep {
    /// Step 2.
    Scopes,
    /// Step 3.
    Secrets,
    /// Step 4.
    Key,
    /// Step 5.
    Finish,
    /// Finished.
    Done,
}

impl WizardStep {
    /// Stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scopes => "scopes",
            Self::Secrets => "secrets",
            Self::Key => "key",
            Self::Finish => "finish",
            Self::Done => "done",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "secrets" => Self::Secrets,
            "key" => Self::Key,
            "finish" => Self::Finish,
            "done" => Self::Done,
            _ => Self::Scopes,
        }
    }
}

/// An application as stored.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = apps)]
pub struct App {
    /// The public Application ID.
    pub id: AppId,
    pub organization_id: OrgId,
    /// Name, unique in the organization regardless of case.
    pub name: String,
    /// Lower-cased name, for the uniqueness constraint.
    pub name_key: String,
    /// URI of the app or its developer.
    pub uri: String,
    pub description: String,
    /// `guest` or `employee`.
    pub login_user_type: String,
    /// `external_cma`, `external_webstore`, `client_app` or `bot`.
    pub source_app: String,
    /// JSON array of URLs.
    pub post_login_redirect_urls: String,
    /// JSON array of URLs.
    pub post_logout_redirect_urls: String,
    /// APIKEY GROUPS permissions.
    pub apikey_scopes: String,
    /// JWT GROUPS permissions.
    pub jwt_scopes: String,
    /// Argon2id hash of the app secret.
    pub secret_hash: Option<String>,
    /// When the current secret was made.
    pub secret_generated_at: Option<Timestamp>,
    /// `draft`, `active` or `inactive`.
    pub status: String,
    /// The wizard's next step.
    pub wizard_step: String,
    /// The nonce of the form that created it, against double submits.
    pub creation_nonce: Option<String>,
    /// The admin who created it.
    pub created_by: Option<AdminId>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// The details of step 1, validated.
#[derive(Debug, Clone)]
pub struct AppDetails {
    pub name: crate::domain::Name,
    pub uri: crate::domain::AppUri,
    pub description: crate::domain::Description,
    pub login_user_type: LoginUserType,
    pub source_app: SourceApp,
    /// Post Login Redirect URLs.
    pub post_login: Vec<crate::domain::RedirectUrl>,
    /// Post Logout Redirect URLs.
    pub post_logout: Vec<crate::domain::RedirectUrl>,
}

fn urls_json(urls: &[crate::domain::RedirectUrl]) -> String {
    serde_json::to_string(&urls.iter().map(|u| u.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".to_owned())
}

impl App {
    /// Status.
    pub fn status(&self) -> AppStatus {
        AppStatus::parse(&self.status)
    }

    /// The wizard's next step.
    pub fn wizard_step(&self) -> WizardStep {
        WizardStep::parse(&self.wizard_step)
    }

    /// Source App.
    pub fn source(&self) -> SourceApp {
        SourceApp::parse(&self.source_app).unwrap_or(SourceApp::ClientApp)
    }

    /// Login User Type.
    pub fn user_type(&self) -> LoginUserType {
        LoginUserType::parse(&self.login_user_type).unwrap_or(LoginUserType::Guest)
    }

    /// Whether it is a public client (RFC 6749 §2.1): an External CMA,
    /// External Webstore or Bot runs where its users are and cannot keep a
    /// secret; a Client App is confidential.
    pub fn is_public_client(&self) -> bool {
        self.source() != SourceApp::ClientApp
    }

    /// What its keys may be given.
    pub fn apikey_permissions(&self) -> PermissionSet {
        PermissionSet::from_stored(&self.apikey_scopes)
    }

    /// What access tokens for its users carry.
    pub fn jwt_permissions(&self) -> PermissionSet {
        PermissionSet::from_stored(&self.jwt_scopes)
    }

    /// Post Login Redirect URLs.
    pub fn post_login_urls(&self) -> Vec<String> {
        serde_json::from_str(&self.post_login_redirect_urls).unwrap_or_default()
    }

    /// Post Logout Redirect URLs.
    pub fn post_logout_urls(&self) -> Vec<String> {
        serde_json::from_str(&self.post_logout_redirect_urls).unwrap_or_default()
    }

    /// One app of the organization.
    pub fn find(
        conn: &mut DbConn,
        organization_id: &OrgId,
        id: &AppId,
    ) -> QueryResult<Option<App>> {
        apps::table
            .find(id)
            .filter(apps::organization_id.eq(organization_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// An app by its Application ID, in any organization: the token endpoint
    /// learns the organization from the client it authenticates.
    pub fn find_by_id(conn: &mut DbConn, id: &AppId) -> QueryResult<Option<App>> {
        apps::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The app a creation form made, if it was submitted before.
    pub fn find_by_nonce(conn: &mut DbConn, nonce: &str) -> QueryResult<Option<App>> {
        apps::table
            .filter(apps::creation_nonce.eq(nonce))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The organization's app with this name (compared as [`Name::key`]).
    ///
    /// [`Name::key`]: crate::domain::Name::key
    pub fn find_by_name_key(
        conn: &mut DbConn,
        organization_id: &OrgId,
        name_key: &str,
    ) -> QueryResult<Option<App>> {
        apps::table
            .filter(apps::organization_id.eq(organization_id))
            .filter(apps::name_key.eq(name_key))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The ids and names of the organization's apps, by name.
    pub fn id_names(
        conn: &mut DbConn,
        organization_id: &OrgId,
    ) -> QueryResult<Vec<(AppId, String)>> {
        apps::table
            .filter(apps::organization_id.eq(organization_id))
            .select((apps::id, apps::name))
            .order(apps::name_key.asc())
            .load(conn)
    }

    /// The names of the organization's apps, by name.
    pub fn names(conn: &mut DbConn, organization_id: &OrgId) -> QueryResult<Vec<String>> {
        apps::table
            .filter(apps::organization_id.eq(organization_id))
            .select(apps::name)
            .order(apps::name_key.asc())
            .load(conn)
    }

    /// The id and name of these apps of the organization (deleted apps are gone).
    pub fn names_of(
        conn: &mut DbConn,
        organization_id: &OrgId,
        ids: &[AppId],
    ) -> QueryResult<Vec<(AppId, String)>> {
        apps::table
            .filter(apps::organization_id.eq(organization_id))
            .filter(apps::id.eq_any(ids))
            .select((apps::id, apps::name))
            .load(conn)
    }

    /// Every app's id and name (deleted apps are gone).
    pub fn names_by_id(
        conn: &mut DbConn,
        organization_id: &OrgId,
    ) -> QueryResult<Vec<(AppId, String)>> {
        apps::table
            .filter(apps::organization_id.eq(organization_id))
            .select((apps::id, apps::name))
            .order(apps::name_key.asc())
            .load(conn)
    }

    /// Whether another app of the organization has this name.
    pub fn name_taken(
        conn: &mut DbConn,
        organization_id: &OrgId,
        name_key: &str,
        except_id: Option<&AppId>,
    ) -> QueryResult<bool> {
        let count: i64 = apps::table
            .filter(apps::organization_id.eq(organization_id))
            .filter(apps::name_key.eq(name_key))
            .filter(apps::id.ne(except_id.map_or("", AppId::as_str)))
            .count()
            .get_result(conn)?;
        Ok(count > 0)
    }

    /// A page of apps by name, optionally those whose name contains `search`,
    /// after the `(name_key, id)` cursor.
    pub fn list_page(
        conn: &mut DbConn,
        organization_id: &OrgId,
        search: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> QueryResult<Vec<App>> {
        let mut query = apps::table
            .filter(apps::organization_id.eq(organization_id))
            .select(Self::as_select())
            .order((apps::name_key.asc(), apps::id.asc()))
            .limit(limit)
            .into_boxed::<crate::db::MultiBackend>();
        if let Some(term) = search {
            let escaped = super::platform::like_literal(term);
            query = query.filter(apps::name_key.like(format!("%{escaped}%")).escape('\\'));
        }
        if let Some((name_key, id)) = after {
            // `>=` bounds the index range; the OR only breaks ties between equal names.
            query = query
                .filter(apps::name_key.ge(name_key))
                .filter(apps::name_key.gt(name_key).or(apps::id.gt(id)));
        }
        query.load(conn)
    }

    /// Inserts a draft from step 1; returns its id.
    pub fn insert_draft(
        conn: &mut DbConn,
        organization_id: &OrgId,
        details: &AppDetails,
        nonce: Option<&str>,
        created_by: Option<&AdminId>,
        now: Timestamp,
    ) -> QueryResult<AppId> {
        let id = AppId::generate();
        diesel::insert_into(apps::table)
            .values((
                apps::id.eq(&id),
                apps::organization_id.eq(organization_id),
                apps::name.eq(details.name.as_str()),
                apps::name_key.eq(details.name.key()),
                apps::uri.eq(details.uri.as_str()),
                apps::description.eq(details.description.as_str()),
                apps::login_user_type.eq(details.login_user_type.as_str()),
                apps::source_app.eq(details.source_app.as_str()),
                apps::post_login_redirect_urls.eq(urls_json(&details.post_login)),
                apps::post_logout_redirect_urls.eq(urls_json(&details.post_logout)),
                apps::apikey_scopes.eq(""),
                apps::jwt_scopes.eq(""),
                apps::status.eq(AppStatus::Draft.as_str()),
                apps::wizard_step.eq(WizardStep::Scopes.as_str()),
                apps::creation_nonce.eq(nonce),
                apps::created_by.eq(created_by),
                apps::created_at.eq(now),
                apps::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// Replaces the details.
    pub fn update_details(
        conn: &mut DbConn,
        id: &AppId,
        details: &AppDetails,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(apps::table.find(id))
            .set((
                apps::name.eq(details.name.as_str()),
                apps::name_key.eq(details.name.key()),
                apps::uri.eq(details.uri.as_str()),
                apps::description.eq(details.description.as_str()),
                apps::login_user_type.eq(details.login_user_type.as_str()),
                apps::source_app.eq(details.source_app.as_str()),
                apps::post_login_redirect_urls.eq(urls_json(&details.post_login)),
                apps::post_logout_redirect_urls.eq(urls_json(&details.post_logout)),
                apps::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces the scopes.
    pub fn update_scopes(
        conn: &mut DbConn,
        id: &AppId,
        apikey: &PermissionSet,
        jwt: &PermissionSet,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(apps::table.find(id))
            .set((
                apps::apikey_scopes.eq(apikey.to_stored()),
                apps::jwt_scopes.eq(jwt.to_stored()),
                apps::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Stores a new secret's hash; any earlier secret stops working.
    pub fn set_secret(
        conn: &mut DbConn,
        id: &AppId,
        hash: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(apps::table.find(id))
            .set((
                apps::secret_hash.eq(Some(hash)),
                apps::secret_generated_at.eq(Some(now)),
                apps::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Moves the wizard.
    pub fn set_wizard_step(
        conn: &mut DbConn,
        id: &AppId,
        step: WizardStep,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(apps::table.find(id))
            .set((
                apps::wizard_step.eq(step.as_str()),
                apps::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Changes the status.
    pub fn set_status(
        conn: &mut DbConn,
        id: &AppId,
        status: AppStatus,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(apps::table.find(id))
            .set((apps::status.eq(status.as_str()), apps::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }

    /// Deletes the app (its keys must be gone).
    pub fn delete(conn: &mut DbConn, id: &AppId) -> QueryResult<()> {
        diesel::delete(apps::table.find(id))
            .execute(conn)
            .map(|_| ())
    }

    /// Locks the app's row until the transaction ends, so concurrent changes to
    /// its keys queue up (PostgreSQL; SQLite's write transactions already do).
    /// How many apps each of these organizations has (drafts too).
    pub fn counts_by_org(conn: &mut DbConn, orgs: &[OrgId]) -> QueryResult<Vec<(OrgId, i64)>> {
        apps::table
            .filter(apps::organization_id.eq_any(orgs))
            .group_by(apps::organization_id)
            .select((apps::organization_id, diesel::dsl::count_star()))
            .load(conn)
    }

    /// How many apps the organization has (drafts too).
    pub fn count_for_org(conn: &mut DbConn, org: &OrgId) -> QueryResult<i64> {
        apps::table
            .filter(apps::organization_id.eq(org))
            .count()
            .get_result(conn)
    }

    pub fn lock(conn: &mut DbConn, id: &AppId) -> QueryResult<()> {
        if let DbConn::Postgres(pg) = conn {
            apps::table
                .find(id)
                .select(apps::id)
                .for_update()
                .first::<String>(pg)
                .optional()?;
        }
        Ok(())
    }
}
