//! The audit trail: who did what, when, from where, to what, and what changed.
//!
//! Records are written in the same transaction as the change they describe and are
//! never updated. They never hold a secret: callers pass only names, ids and the
//! fields that changed.

use diesel::prelude::*;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::db::schema::audit_events;
use crate::db::{DbConn, new_id};
use crate::domain::{AdminId, AppId, OrgId};

/// What happened. The stored names are stable: filters and exports rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An admin signed in.
    SignedIn,
    /// A sign-in was refused.
    SignInFailed,
    /// An admin signed out.
    SignedOut,
    /// Sign-in attempts were refused by the throttle (a summary).
    SignInThrottled,
    /// An account was locked after too many consecutive failed sign-ins.
    AccountLocked,
    /// A locked account was unlocked.
    AccountUnlocked,
    /// A state-changing request from another site was refused.
    RequestRefused,
    /// An admin account was created.
    AdminCreated,
    /// An app was created (as a draft, at the wizard's first step).
    AppCreated,
    /// An app's details or scopes changed.
    AppChanged,
    /// An app was activated (at the wizard's end, or again after inactivation).
    AppActivated,
    /// An app was inactivated: all its keys stopped.
    AppInactivated,
    /// An app (or an abandoned draft) was deleted.
    AppDeleted,
    /// A new app secret was generated; the previous one stopped working.
    SecretGenerated,
    /// An API key was created.
    KeyCreated,
    /// An API key was edited.
    KeyEdited,
    /// An API key was activated.
    KeyActivated,
    /// An API key was inactivated.
    KeyInactivated,
    /// An API key was deleted.
    KeyDeleted,
    /// An API key was rolled: a new key replaces it after a grace period.
    KeyRolled,
    /// A rolled key's grace began, at its successor's first use.
    KeyGraceStarted,
    /// The organization's features were switched.
    FeaturesChanged,
    /// The organization's name or time zone changed.
    OrganizationChanged,
    /// An operator made the organization.
    OrganizationCreated,
    /// An operator suspended the organization: its keys and tokens get 402.
    OrganizationSuspended,
    /// An operator resumed the organization.
    OrganizationResumed,
    /// An operator was made (by the `keyward operator create` command).
    OperatorCreated,
    /// An operator signed in.
    OperatorSignedIn,
    /// An operator made an API token.
    OperatorTokenCreated,
    /// An operator's API token was revoked.
    OperatorTokenRevoked,
    /// The key policy changed.
    PolicyChanged,
    /// The Expiry of API keys alert settings changed.
    AlertsChanged,
    /// The usage and request log retention or sample changed.
    UsageSettingsChanged,
    /// An employee was added to the staff.
    StaffAdded,
    /// An employee's details changed.
    StaffChanged,
    /// An employee left (or came back).
    StaffStatusChanged,
    /// The mail server refused an expiry alert for good.
    AlertFailed,
    /// A user (employee or guest) was sent a sign-in invitation.
    UserInvited,
    /// A user's password was reset: the old one and every token stopped working.
    UserPasswordReset,
    /// A user set a password through a one-time link.
    UserPasswordSet,
    /// A guest was blocked from signing in.
    UserBlocked,
    /// A blocked guest may sign in again.
    UserUnblocked,
    /// A key to sign access tokens was made (at first start).
    SigningKeyCreated,
    /// The token signing key was replaced.
    SigningKeyRotated,
    /// How long access and refresh tokens live changed.
    TokenLifetimesChanged,
    /// A user signed in through an app and got a token pair.
    UserSignedIn,
    /// A user's sign-in through an app was refused.
    UserSignInFailed,
    /// A user changed their own password: their other sign-ins ended.
    UserPasswordChanged,
    /// A sign-in (its refresh and access tokens) or one access token was revoked.
    TokenRevoked,
    /// A retired refresh token was presented again: its whole sign-in was
    /// revoked (RFC 9700 §4.14.2).
    TokenReuseDetected,
    /// A user signed in on the hosted sign-in page (OpenID Connect).
    UserHostedSignedIn,
    /// A user signed out of the hosted session.
    UserHostedSignedOut,
    /// An authorization code was presented a second time: the sign-in it made
    /// was revoked (RFC 6749 §4.1.2).
    CodeReused,
    /// A user asked for a password link on the hosted page (Forgot password).
    UserPasswordLinkRequested,
    /// A webhook endpoint was registered.
    WebhookCreated,
    /// A webhook endpoint's URL, events or standing changed.
    WebhookChanged,
    /// A webhook endpoint was deleted.
    WebhookDeleted,
    /// A webhook endpoint's signing secret was rolled.
    WebhookSecretRolled,
    /// A test event was sent to a webhook endpoint.
    WebhookTestSent,
    /// A webhook delivery was sent again.
    WebhookResent,
    /// A webhook endpoint that kept failing was switched off by the server.
    WebhookDisabled,
    /// An admin made an API token for the management API.
    AdminTokenCreated,
    /// An admin API token was revoked.
    AdminTokenRevoked,
    /// An admin was invited by email.
    AdminInvited,
    /// An admin invitation was withdrawn.
    AdminInvitationWithdrawn,
    /// An invited admin set a password and joined.
    AdminJoined,
    /// An admin's role changed.
    AdminRoleChanged,
    /// An admin was disabled: every session of theirs ended.
    AdminDisabled,
    /// A disabled admin was enabled again.
    AdminEnabled,
    /// An admin was removed.
    AdminRemoved,
    /// An admin changed their password: their other sessions ended.
    AdminPasswordChanged,
    /// An admin asked for a password reset link.
    AdminPasswordResetRequested,
    /// An admin set a new password through a reset link: every session ended.
    AdminPasswordReset,
    /// An admin signed one of their sessions out.
    AdminSessionEnded,
    /// A sign-in or step-up code or passkey was refused.
    SecondFactorFailed,
    /// An admin turned on sign-in with an authenticator app (TOTP).
    TotpEnabled,
    /// An admin turned off sign-in with an authenticator app.
    TotpDisabled,
    /// An admin registered a passkey or security key.
    PasskeyAdded,
    /// An admin removed a passkey or security key.
    PasskeyRemoved,
    /// New recovery codes replaced the old ones.
    RecoveryCodesGenerated,
    /// A recovery code was used in place of a second factor.
    RecoveryCodeUsed,
    /// An admin confirmed who they are before a sensitive change.
    SteppedUp,
    /// An admin signed in from an address not seen before: they were emailed.
    NewSignInAddress,
    /// The organization's rule on two-factor sign-in for admins changed.
    TwoFactorRequirementChanged,
}

impl Action {
    /// Every action, in the order the filter lists them.
    pub const ALL: &'static [Action] = &[
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignedOut,
        Self::SignInThrottled,
        Self::AccountLocked,
        Self::AccountUnlocked,
        Self::RequestRefused,
        Self::AdminCreated,
        Self::AdminInvited,
        Self::AdminInvitationWithdrawn,
        Self::AdminJoined,
        Self::AdminRoleChanged,
        Self::AdminDisabled,
        Self::AdminEnabled,
        Self::AdminRemoved,
        Self::AdminPasswordChanged,
        Self::AdminPasswordResetRequested,
        Self::AdminPasswordReset,
        Self::AdminSessionEnded,
        Self::SecondFactorFailed,
        Self::TotpEnabled,
        Self::TotpDisabled,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::RecoveryCodesGenerated,
        Self::RecoveryCodeUsed,
        Self::SteppedUp,
        Self::NewSignInAddress,
        Self::TwoFactorRequirementChanged,
        Self::AdminTokenCreated,
        Self::AdminTokenRevoked,
        Self::AppCreated,
        Self::AppChanged,
        Self::AppActivated,
        Self::AppInactivated,
        Self::AppDeleted,
        Self::SecretGenerated,
        Self::KeyCreated,
        Self::KeyEdited,
        Self::KeyActivated,
        Self::KeyInactivated,
        Self::KeyDeleted,
        Self::KeyRolled,
        Self::KeyGraceStarted,
        Self::FeaturesChanged,
        Self::OrganizationChanged,
        Self::OrganizationCreated,
        Self::OrganizationSuspended,
        Self::OrganizationResumed,
        Self::OperatorCreated,
        Self::OperatorSignedIn,
        Self::OperatorTokenCreated,
        Self::OperatorTokenRevoked,
        Self::PolicyChanged,
        Self::AlertsChanged,
        Self::UsageSettingsChanged,
        Self::StaffAdded,
        Self::StaffChanged,
        Self::StaffStatusChanged,
        Self::AlertFailed,
        Self::UserInvited,
        Self::UserPasswordReset,
        Self::UserPasswordSet,
        Self::UserBlocked,
        Self::UserUnblocked,
        Self::SigningKeyCreated,
        Self::SigningKeyRotated,
        Self::TokenLifetimesChanged,
        Self::UserSignedIn,
        Self::UserSignInFailed,
        Self::UserPasswordChanged,
        Self::TokenRevoked,
        Self::TokenReuseDetected,
        Self::UserHostedSignedIn,
        Self::UserHostedSignedOut,
        Self::CodeReused,
        Self::UserPasswordLinkRequested,
        Self::WebhookCreated,
        Self::WebhookChanged,
        Self::WebhookDeleted,
        Self::WebhookSecretRolled,
        Self::WebhookTestSent,
        Self::WebhookResent,
        Self::WebhookDisabled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "admin.signed_in",
            Self::SignInFailed => "admin.sign_in_failed",
            Self::SignedOut => "admin.signed_out",
            Self::SignInThrottled => "admin.sign_in_throttled",
            Self::AccountLocked => "admin.locked",
            Self::AccountUnlocked => "admin.unlocked",
            Self::RequestRefused => "request.refused",
            Self::AdminCreated => "admin.created",
            Self::AppCreated => "app.created",
            Self::AppChanged => "app.changed",
            Self::AppActivated => "app.activated",
            Self::AppInactivated => "app.inactivated",
            Self::AppDeleted => "app.deleted",
            Self::SecretGenerated => "app.secret_generated",
            Self::KeyCreated => "key.created",
            Self::KeyEdited => "key.edited",
            Self::KeyActivated => "key.activated",
            Self::KeyInactivated => "key.inactivated",
            Self::KeyDeleted => "key.deleted",
            Self::KeyRolled => "key.rolled",
            Self::KeyGraceStarted => "key.grace_started",
            Self::FeaturesChanged => "organization.features_changed",
            Self::OrganizationChanged => "organization.changed",
            Self::OrganizationCreated => "organization.created",
            Self::OrganizationSuspended => "organization.suspended",
            Self::OrganizationResumed => "organization.resumed",
            Self::OperatorCreated => "operator.created",
            Self::OperatorSignedIn => "operator.signed_in",
            Self::OperatorTokenCreated => "operator.token_created",
            Self::OperatorTokenRevoked => "operator.token_revoked",
            Self::PolicyChanged => "organization.policy_changed",
            Self::AlertsChanged => "organization.alerts_changed",
            Self::UsageSettingsChanged => "organization.usage_settings_changed",
            Self::StaffAdded => "staff.added",
            Self::StaffChanged => "staff.changed",
            Self::StaffStatusChanged => "staff.status_changed",
            Self::AlertFailed => "alert.failed",
            Self::UserInvited => "user.invited",
            Self::UserPasswordReset => "user.password_reset",
            Self::UserPasswordSet => "user.password_set",
            Self::UserBlocked => "user.blocked",
            Self::UserUnblocked => "user.unblocked",
            Self::SigningKeyCreated => "signing.key_created",
            Self::SigningKeyRotated => "signing.key_rotated",
            Self::TokenLifetimesChanged => "organization.token_lifetimes_changed",
            Self::UserSignedIn => "user.signed_in",
            Self::UserSignInFailed => "user.sign_in_failed",
            Self::UserPasswordChanged => "user.password_changed",
            Self::TokenRevoked => "token.revoked",
            Self::TokenReuseDetected => "token.reuse_detected",
            Self::UserHostedSignedIn => "user.hosted_signed_in",
            Self::UserHostedSignedOut => "user.hosted_signed_out",
            Self::CodeReused => "token.code_reused",
            Self::UserPasswordLinkRequested => "user.password_link_requested",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookChanged => "webhook.changed",
            Self::WebhookDeleted => "webhook.deleted",
            Self::WebhookSecretRolled => "webhook.secret_rolled",
            Self::WebhookTestSent => "webhook.test_sent",
            Self::WebhookResent => "webhook.resent",
            Self::WebhookDisabled => "webhook.disabled",
            Self::AdminTokenCreated => "admin.token_created",
            Self::AdminTokenRevoked => "admin.token_revoked",
            Self::AdminInvited => "admin.invited",
            Self::AdminInvitationWithdrawn => "admin.invitation_withdrawn",
            Self::AdminJoined => "admin.joined",
            Self::AdminRoleChanged => "admin.role_changed",
            Self::AdminDisabled => "admin.disabled",
            Self::AdminEnabled => "admin.enabled",
            Self::AdminRemoved => "admin.removed",
            Self::AdminPasswordChanged => "admin.password_changed",
            Self::AdminPasswordResetRequested => "admin.password_reset_requested",
            Self::AdminPasswordReset => "admin.password_reset",
            Self::AdminSessionEnded => "admin.session_ended",
            Self::SecondFactorFailed => "admin.second_factor_failed",
            Self::TotpEnabled => "admin.totp_enabled",
            Self::TotpDisabled => "admin.totp_disabled",
            Self::PasskeyAdded => "admin.passkey_added",
            Self::PasskeyRemoved => "admin.passkey_removed",
            Self::RecoveryCodesGenerated => "admin.recovery_codes_generated",
            Self::RecoveryCodeUsed => "admin.recovery_code_used",
            Self::SteppedUp => "admin.stepped_up",
            Self::NewSignInAddress => "admin.new_address",
            Self::TwoFactorRequirementChanged => "organization.two_factor_changed",
        }
    }

    /// Words for the console.
    pub fn label(self) -> &'static str {
        match self {
            Self::SignedIn => "Signed in",
            Self::SignInFailed => "Sign-in failed",
            Self::SignedOut => "Signed out",
            Self::SignInThrottled => "Sign-in throttled",
            Self::AccountLocked => "Account locked",
            Self::AccountUnlocked => "Account unlocked",
            Self::RequestRefused => "Request refused",
            Self::AdminCreated => "Admin created",
            Self::AppCreated => "App created",
            Self::AppChanged => "App changed",
            Self::AppActivated => "App activated",
            Self::AppInactivated => "App inactivated",
            Self::AppDeleted => "App deleted",
            Self::SecretGenerated => "Secret generated",
            Self::KeyCreated => "Key created",
            Self::KeyEdited => "Key edited",
            Self::KeyActivated => "Key activated",
            Self::KeyInactivated => "Key inactivated",
            Self::KeyDeleted => "Key deleted",
            Self::KeyRolled => "Key rolled",
            Self::KeyGraceStarted => "Rolled key's grace started",
            Self::FeaturesChanged => "Features changed",
            Self::OrganizationChanged => "Organization changed",
            Self::OrganizationCreated => "Organization created",
            Self::OrganizationSuspended => "Organization suspended",
            Self::OrganizationResumed => "Organization resumed",
            Self::OperatorCreated => "Operator created",
            Self::OperatorSignedIn => "Operator signed in",
            Self::OperatorTokenCreated => "Operator API token created",
            Self::OperatorTokenRevoked => "Operator API token revoked",
            Self::PolicyChanged => "Key policy changed",
            Self::AlertsChanged => "Expiry alert changed",
            Self::UsageSettingsChanged => "Usage and logs settings changed",
            Self::StaffAdded => "Staff added",
            Self::StaffChanged => "Staff changed",
            Self::StaffStatusChanged => "Staff status changed",
            Self::AlertFailed => "Expiry alert refused",
            Self::UserInvited => "User invited",
            Self::UserPasswordReset => "User password reset",
            Self::UserPasswordSet => "User password set",
            Self::UserBlocked => "User blocked",
            Self::UserUnblocked => "User unblocked",
            Self::SigningKeyCreated => "Signing key created",
            Self::SigningKeyRotated => "Signing key rotated",
            Self::TokenLifetimesChanged => "Token lifetimes changed",
            Self::UserSignedIn => "User signed in",
            Self::UserSignInFailed => "User sign-in failed",
            Self::UserPasswordChanged => "User password changed",
            Self::TokenRevoked => "Sign-in revoked",
            Self::TokenReuseDetected => "Refresh token reused",
            Self::UserHostedSignedIn => "User signed in (hosted page)",
            Self::UserHostedSignedOut => "User signed out (hosted page)",
            Self::CodeReused => "Authorization code reused",
            Self::UserPasswordLinkRequested => "User asked for a password link",
            Self::WebhookCreated => "Webhook endpoint created",
            Self::WebhookChanged => "Webhook endpoint changed",
            Self::WebhookDeleted => "Webhook endpoint deleted",
            Self::WebhookSecretRolled => "Webhook signing secret rolled",
            Self::WebhookTestSent => "Webhook test event sent",
            Self::WebhookResent => "Webhook event sent again",
            Self::WebhookDisabled => "Webhook endpoint switched off (failing)",
            Self::AdminTokenCreated => "Admin API token created",
            Self::AdminTokenRevoked => "Admin API token revoked",
            Self::AdminInvited => "Admin invited",
            Self::AdminInvitationWithdrawn => "Admin invitation withdrawn",
            Self::AdminJoined => "Admin joined (invitation used)",
            Self::AdminRoleChanged => "Admin role changed",
            Self::AdminDisabled => "Admin disabled",
            Self::AdminEnabled => "Admin enabled",
            Self::AdminRemoved => "Admin removed",
            Self::AdminPasswordChanged => "Password changed",
            Self::AdminPasswordResetRequested => "Password reset requested",
            Self::AdminPasswordReset => "Password reset",
            Self::AdminSessionEnded => "Session signed out",
            Self::SecondFactorFailed => "Second factor refused",
            Self::TotpEnabled => "Authenticator app added",
            Self::TotpDisabled => "Authenticator app removed",
            Self::PasskeyAdded => "Passkey added",
            Self::PasskeyRemoved => "Passkey removed",
            Self::RecoveryCodesGenerated => "Recovery codes generated",
            Self::RecoveryCodeUsed => "Recovery code used",
            Self::SteppedUp => "Identity confirmed",
            Self::NewSignInAddress => "Sign-in from a new address",
            Self::TwoFactorRequirementChanged => "Two-factor requirement changed",
        }
    }

    /// What this change can alter of what passes `/api`, as the change feed
    /// names it: every instance forgets the credentials it cached of that
    /// app, key, user or organization (the subject comes from the record's
    /// [`Target`]), or reads the organization's signing keys again.
    pub fn changes(self) -> Option<super::change::ChangeKind> {
        use super::change::ChangeKind;
        Some(match self {
            Self::AppChanged
            | Self::AppActivated
            | Self::AppInactivated
            | Self::AppDeleted
            | Self::SecretGenerated => ChangeKind::App,
            Self::KeyCreated
            | Self::KeyEdited
            | Self::KeyActivated
            | Self::KeyInactivated
            | Self::KeyDeleted
            | Self::KeyRolled
            | Self::KeyGraceStarted => ChangeKind::Key,
            // Its switches, its suspension, its keys' rate ceiling and its
            // request log's sample are read at each check.
            Self::FeaturesChanged
            | Self::UsageSettingsChanged
            | Self::OrganizationSuspended
            | Self::OrganizationResumed => ChangeKind::Organization,
            Self::StaffStatusChanged
            | Self::UserPasswordReset
            | Self::UserPasswordSet
            | Self::UserBlocked
            | Self::UserUnblocked
            | Self::UserPasswordChanged
            | Self::TokenRevoked
            | Self::TokenReuseDetected
            | Self::UserHostedSignedOut
            | Self::CodeReused => ChangeKind::User,
            Self::SigningKeyCreated | Self::SigningKeyRotated => ChangeKind::SigningKeys,
            _ => return None,
        })
    }

    /// The routine sign-ins and sign-outs, which the audit page leaves out
    /// unless asked (refused and throttled sign-ins are not routine: they
    /// stay).
    pub const ROUTINE: &'static [Action] = &[
        Self::SignedIn,
        Self::SignedOut,
        Self::UserSignedIn,
        Self::UserHostedSignedIn,
        Self::UserHostedSignedOut,
    ];

    /// Whether a limited admin may see records of this action: not those of
    /// the API keys section (seed 003: only admins with full access see it).
    pub fn visible_to_limited(self) -> bool {
        !matches!(
            self,
            Self::AppCreated
                | Self::AppChanged
                | Self::AppActivated
                | Self::AppInactivated
                | Self::AppDeleted
                | Self::SecretGenerated
                | Self::KeyCreated
                | Self::KeyEdited
                | Self::KeyActivated
                | Self::KeyInactivated
                | Self::KeyDeleted
                | Self::KeyRolled
                | Self::KeyGraceStarted
                | Self::AlertFailed
                | Self::UserSignedIn
                | Self::UserSignInFailed
                | Self::TokenRevoked
                | Self::TokenReuseDetected
                | Self::UserHostedSignedIn
                | Self::UserHostedSignedOut
                | Self::CodeReused
                | Self::WebhookCreated
                | Self::WebhookChanged
                | Self::WebhookDeleted
                | Self::WebhookSecretRolled
                | Self::WebhookTestSent
                | Self::WebhookResent
                | Self::WebhookDisabled
        )
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

/// Who acted, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The admin's id, when an admin acted.
    pub id: Option<AdminId>,
    /// The admin's email, the email typed at a failed sign-in, or `system`.
    pub label: String,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The client's User-Agent, shortened.
    pub user_agent: Option<String>,
    /// The admin API token the admin acted through, when they did
    /// (`API token “name” (kwa_…)`).
    pub via: Option<String>,
}

impl Actor {
    /// The server itself or an operator's command.
    pub fn system(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            ..Self::default()
        }
    }
}

/// What was acted on.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `admin`, `app`, `key`, `organization`...
    pub kind: Option<&'static str>,
    pub id: Option<String>,
    /// Its name at the time.
    pub label: Option<String>,
    /// The app it belongs to, for filtering by app.
    pub app_id: Option<AppId>,
    /// What a webhook event about it says (ids, names, the masked key; never
    /// a secret), when the target is an app or a key.
    pub data: Option<serde_json::Value>,
}

impl Target {
    /// An app.
    pub fn app(app: &super::app::App) -> Self {
        Self {
            app_id: Some(app.id.clone()),
            data: Some(serde_json::json!({ "app": app_data(app) })),
            ..Self::new("app", app.id.clone(), app.name.clone())
        }
    }

    /// A key of `app`, named with its masked form.
    pub fn key(app: &super::app::App, key: &super::api_key::ApiKey) -> Self {
        Self {
            app_id: Some(app.id.clone()),
            data: Some(serde_json::json!({
                "app": app_data(app),
                "key": {
                    "id": key.id,
                    "name": key.name,
                    "masked": key.masked(),
                    "active": key.active,
                    "expires_at": key.expires_at.map(crate::clock::fmt::iso),
                },
            })),
            ..Self::new(
                "key",
                key.id.clone(),
                format!("{} ({})", key.name, key.masked()),
            )
        }
    }

    /// A target of `kind` with an id and a label.
    pub fn new(kind: &'static str, id: impl std::fmt::Display, label: impl Into<String>) -> Self {
        Self {
            kind: Some(kind),
            id: Some(id.to_string()),
            label: Some(label.into()),
            app_id: None,
            data: None,
        }
    }
}

/// An app as webhook events show it.
fn app_data(app: &super::app::App) -> serde_json::Value {
    serde_json::json!({
        "id": app.id,
        "name": app.name,
        "status": app.status,
        "source_app": app.source_app,
    })
}

/// What the Audit page and its export narrow the records to.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The start of the actor's label (an admin's email, a user's name) or
    /// of a word of it, in any case.
    pub actor: Option<String>,
    pub action: Option<Action>,
    /// The app concerned.
    pub app_id: Option<AppId>,
    /// From this instant.
    pub from: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// For a limited admin: only the organization-level records (settings,
    /// staff) and those of the admin's own account and actions, never the API
    /// keys section's.
    pub limited_to: Option<(AdminId, String)>,
    /// Leave out the routine sign-ins and sign-outs ([`Action::ROUTINE`]).
    pub hide_routine: bool,
}

/// A stored record.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Id (UUIDv7, so ids order like times).
    pub id: String,
    pub organization_id: OrgId,
    /// When.
    pub occurred_at: Timestamp,
    /// The acting admin.
    pub actor_id: Option<AdminId>,
    /// The acting admin's email, or what was typed.
    pub actor_label: String,
    /// Stored action name.
    pub action: String,
    /// Kind of target.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Target name.
    pub target_label: Option<String>,
    /// The app concerned.
    pub app_id: Option<AppId>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// JSON object of what changed.
    pub changes: String,
    /// The admin API token the change came through.
    pub via: Option<String>,
}

/// A record to write.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
struct NewRow<'a> {
    id: String,
    organization_id: &'a OrgId,
    occurred_at: Timestamp,
    actor_id: Option<&'a AdminId>,
    actor_label: &'a str,
    action: &'static str,
    target_type: Option<&'static str>,
    target_id: Option<&'a str>,
    target_label: Option<&'a str>,
    app_id: Option<&'a AppId>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    changes: String,
    via: Option<&'a str>,
}

/// An event about to be recorded.
#[derive(Debug)]
pub struct NewAuditEvent<'a> {
    pub organization_id: &'a OrgId,
    /// Who.
    pub actor: &'a Actor,
    /// What.
    pub action: Action,
    /// To what.
    pub target: Target,
    /// What changed, as a JSON object (never a secret).
    pub changes: Value,
}

fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl AuditEvent {
    /// Appends a record.
    pub fn record(conn: &mut DbConn, event: NewAuditEvent<'_>, now: Timestamp) -> QueryResult<()> {
        let row = NewRow {
            id: new_id(),
            organization_id: event.organization_id,
            occurred_at: now,
            actor_id: event.actor.id.as_ref(),
            actor_label: clip(&event.actor.label, 254),
            action: event.action.as_str(),
            target_type: event.target.kind,
            target_id: event.target.id.as_deref(),
            target_label: event.target.label.as_deref().map(|s| clip(s, 254)),
            app_id: event.target.app_id.as_ref(),
            ip: event.actor.ip.as_deref(),
            user_agent: event.actor.user_agent.as_deref().map(|s| clip(s, 256)),
            changes: event.changes.to_string(),
            via: event.actor.via.as_deref(),
        };
        diesel::insert_into(audit_events::table)
            .values(&row)
            .execute(conn)
            .map(|_| ())
    }

    /// How many times `action` happened with this target label since `since`
    /// (failed sign-ins for one email, say).
    pub fn count_for_target_since(
        conn: &mut DbConn,
        action: Action,
        target_label: &str,
        since: Timestamp,
    ) -> QueryResult<(i64, Option<Timestamp>)> {
        audit_events::table
            .filter(audit_events::action.eq(action.as_str()))
            .filter(audit_events::target_label.eq(target_label))
            .filter(audit_events::occurred_at.gt(since))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::max(audit_events::occurred_at),
            ))
            .first(conn)
    }

    /// How many times `action` happened from this IP since `since`.
    pub fn count_for_ip_since(
        conn: &mut DbConn,
        action: Action,
        ip: &str,
        since: Timestamp,
    ) -> QueryResult<(i64, Option<Timestamp>)> {
        audit_events::table
            .filter(audit_events::action.eq(action.as_str()))
            .filter(audit_events::ip.eq(ip))
            .filter(audit_events::occurred_at.gt(since))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::max(audit_events::occurred_at),
            ))
            .first(conn)
    }

    /// The latest time `action` happened with this target label.
    pub fn latest_for_target(
        conn: &mut DbConn,
        action: Action,
        target_label: &str,
    ) -> QueryResult<Option<Timestamp>> {
        audit_events::table
            .filter(audit_events::action.eq(action.as_str()))
            .filter(audit_events::target_label.eq(target_label))
            .select(diesel::dsl::max(audit_events::occurred_at))
            .first(conn)
    }

    /// Records matching `filter`, newest first, older than the `before` cursor
    /// (`occurred_at`, `id`): keyset pagination, as fast on the last page as the first.
    pub fn search(
        conn: &mut DbConn,
        organization_id: &OrgId,
        filter: &AuditFilter,
        before: Option<(Timestamp, &str)>,
        limit: i64,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = audit_events::table
            .filter(audit_events::organization_id.eq(organization_id))
            .select(Self::as_select())
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .limit(limit)
            .into_boxed::<crate::db::MultiBackend>();
        if let Some(actor) = &filter.actor {
            let prefix = super::platform::like_literal(actor);
            let label = super::platform::lower(audit_events::actor_label);
            query = query.filter(
                label
                    .like(format!("{prefix}%"))
                    .escape('\\')
                    .or(super::platform::lower(audit_events::actor_label)
                        .like(format!("% {prefix}%"))
                        .escape('\\')),
            );
        }
        if filter.hide_routine {
            query = query
                .filter(audit_events::action.ne_all(Action::ROUTINE.iter().map(|a| a.as_str())));
        }
        if let Some(action) = filter.action {
            query = query.filter(audit_events::action.eq(action.as_str()));
        }
        if let Some(app) = &filter.app_id {
            query = query.filter(audit_events::app_id.eq(app.clone()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_events::occurred_at.ge(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_events::occurred_at.lt(until));
        }
        if let Some((admin, email)) = &filter.limited_to {
            // Records about an app (an employee's sign-in through one, say)
            // belong to the API keys section.
            query = query.filter(
                audit_events::target_type
                    .eq_any(["organization", "employee"])
                    .and(audit_events::app_id.is_null())
                    .or(audit_events::actor_id.eq(admin.clone()))
                    .or(audit_events::target_type
                        .eq("admin")
                        .and(audit_events::target_label.eq(email.clone()))),
            );
        }
        if let Some((at, id)) = before {
            // The plain `<=` bound lets the index start at the cursor; the OR then
            // only breaks ties within the same instant.
            query = query.filter(audit_events::occurred_at.le(at)).filter(
                audit_events::occurred_at
                    .lt(at)
                    .or(audit_events::id.lt(id.to_owned())),
            );
        }
        query.load(conn)
    }

    /// The record's action, when it is one this version knows.
    pub fn action(&self) -> Option<Action> {
        Action::parse(&self.action)
    }
}
