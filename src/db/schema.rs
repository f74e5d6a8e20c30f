// @generated automatically by Diesel CLI.

diesel::table! {
    admin_addresses (admin_id, ip) {
        admin_id -> Text,
        ip -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    admin_challenges (id) {
        id -> Text,
        admin_id -> Text,
        purpose -> Text,
        state -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    admin_links (id) {
        id -> Text,
        token_digest -> Text,
        purpose -> Text,
        organization_id -> Text,
        email -> Text,
        role -> Text,
        admin_id -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_passkeys (id) {
        id -> Text,
        admin_id -> Text,
        name -> Text,
        credential_id -> Text,
        passkey -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_recovery_codes (admin_id, code_digest) {
        admin_id -> Text,
        code_digest -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_tokens (id) {
        id -> Text,
        organization_id -> Text,
        admin_id -> Text,
        name -> Text,
        public_id -> Text,
        secret_digest -> Text,
        scopes -> Text,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    admins (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        password_changed_at -> Timestamp,
        last_sign_in_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        totp_secret -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    alert_recipients (organization_id, employee_id) {
        organization_id -> Text,
        employee_id -> Text,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        app_id -> Text,
        organization_id -> Text,
        public_id -> Text,
        secret_digest -> Text,
        last_four -> Text,
        name -> Text,
        description -> Text,
        permissions -> Text,
        active -> Bool,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        creation_nonce -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        allowed_ips -> Text,
        rate_per_second -> Nullable<Integer>,
        rate_per_minute -> Nullable<Integer>,
        rolled_from_id -> Nullable<Text>,
        rolled_to_id -> Nullable<Text>,
        rolled_at -> Nullable<Timestamp>,
        rolled_by -> Nullable<Text>,
        expiry_before_roll -> Nullable<Timestamp>,
        grace_seconds -> Nullable<BigInt>,
        grace_on_first_use -> Bool,
    }
}

diesel::table! {
    appointments (id) {
        id -> Text,
        organization_id -> Text,
        service_id -> Text,
        employee_id -> Text,
        guest_id -> Nullable<Text>,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        status -> Text,
        notes -> Text,
        source -> Text,
        created_by_app_id -> Nullable<Text>,
        created_by_key_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        created_by_user -> Nullable<Text>,
    }
}

diesel::table! {
    apps (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        name_key -> Text,
        uri -> Text,
        description -> Text,
        login_user_type -> Text,
        source_app -> Text,
        post_login_redirect_urls -> Text,
        post_logout_redirect_urls -> Text,
        apikey_scopes -> Text,
        jwt_scopes -> Text,
        secret_hash -> Nullable<Text>,
        secret_generated_at -> Nullable<Timestamp>,
        status -> Text,
        wizard_step -> Text,
        creation_nonce -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Text,
        occurred_at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_label -> Text,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        target_label -> Nullable<Text>,
        app_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        changes -> Text,
        via -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (digest) {
        digest -> Text,
        organization_id -> Text,
        app_id -> Text,
        subject -> Text,
        session_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    change_head (id) {
        id -> Integer,
        seq -> BigInt,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        organization_id -> Text,
        kind -> Text,
        subject -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    employees (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        email -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    guests (id) {
        id -> Text,
        organization_id -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    hosted_sessions (id) {
        id -> Text,
        organization_id -> Text,
        subject -> Text,
        secret_digest -> Text,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (token_id, idempotency_key) {
        token_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status -> Integer,
        response_sealed -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    installments (id) {
        id -> Text,
        organization_id -> Text,
        guest_id -> Text,
        appointment_id -> Nullable<Text>,
        amount_cents -> BigInt,
        currency -> Text,
        due_on -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    key_addresses (key_id, address) {
        key_id -> Text,
        address -> Text,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    key_alerts (id) {
        id -> Text,
        organization_id -> Text,
        key_id -> Text,
        app_id -> Text,
        threshold_days -> Integer,
        expires_at -> Timestamp,
        employee_id -> Text,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    operator_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        operator_id -> Nullable<Text>,
        actor_label -> Text,
        action -> Text,
        organization_id -> Nullable<Text>,
        organization_label -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        changes -> Text,
        via -> Nullable<Text>,
    }
}

diesel::table! {
    operator_tokens (id) {
        id -> Text,
        operator_id -> Text,
        name -> Text,
        public_id -> Text,
        secret_digest -> Text,
        can_write -> Bool,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    operators (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        password_changed_at -> Timestamp,
        last_sign_in_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        time_zone -> Text,
        external_connectivity -> Bool,
        key_default_lifetime_days -> Nullable<Integer>,
        key_max_lifetime_days -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        alerts_enabled -> Bool,
        alert_thresholds -> Text,
        access_token_minutes -> Integer,
        refresh_token_days -> Integer,
        refresh_idle_days -> Integer,
        refresh_grace_seconds -> Integer,
        key_default_rate_per_second -> Nullable<Integer>,
        key_default_rate_per_minute -> Nullable<Integer>,
        retired_keys_days -> Integer,
        usage_minutes_hours -> Integer,
        usage_hours_days -> Integer,
        usage_days_days -> Integer,
        log_sample_basis_points -> Integer,
        log_retention_days -> Integer,
        log_max_rows -> BigInt,
        require_two_factor -> Bool,
        slug -> Text,
        root_issuer -> Bool,
        suspended_at -> Nullable<Timestamp>,
        max_apps -> Nullable<Integer>,
        max_keys_per_app -> Integer,
        max_rate_per_second -> Nullable<Integer>,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        organization_id -> Text,
        guest_id -> Text,
        appointment_id -> Nullable<Text>,
        amount_cents -> BigInt,
        currency -> Text,
        method -> Text,
        paid_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rate_counts (key_id, window_seconds, window_start, instance) {
        key_id -> Text,
        window_seconds -> Integer,
        window_start -> BigInt,
        instance -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (public_id) {
        public_id -> Text,
        family_id -> Text,
        digest -> Text,
        created_at -> Timestamp,
        idle_expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        successor_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    request_logs (id) {
        id -> Text,
        organization_id -> Text,
        at -> Timestamp,
        app_id -> Text,
        key_id -> Nullable<Text>,
        credential -> Text,
        method -> Text,
        route -> Text,
        status -> Integer,
        outcome -> Text,
        error_code -> Nullable<Text>,
        client -> Nullable<Text>,
        latency_us -> BigInt,
        request_id -> Text,
    }
}

diesel::table! {
    retired_keys (id) {
        id -> Text,
        organization_id -> Text,
        app_id -> Text,
        name -> Text,
        description -> Text,
        masked -> Text,
        permissions -> Text,
        allowed_ips -> Text,
        rate_per_second -> Nullable<Integer>,
        rate_per_minute -> Nullable<Integer>,
        created_at -> Timestamp,
        ended_at -> Timestamp,
        reason -> Text,
        ended_by -> Nullable<Text>,
        rolled_to_id -> Nullable<Text>,
        deleted_at -> Timestamp,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        organization_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    services (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        description -> Text,
        duration_minutes -> Integer,
        price_cents -> BigInt,
        currency -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        admin_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamp>,
        operator_id -> Nullable<Text>,
    }
}

diesel::table! {
    setup_tokens (token_hash) {
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_throttle (subject) {
        subject -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        last_failure_at -> Nullable<Timestamp>,
        consecutive_failures -> Integer,
        locked_at -> Nullable<Timestamp>,
        refused -> Integer,
        refused_reported_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        organization_id -> Text,
        algorithm -> Text,
        public_key -> Text,
        private_key_sealed -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        published_until -> Nullable<Timestamp>,
        max_token_minutes -> Integer,
    }
}

diesel::table! {
    token_families (id) {
        id -> Text,
        organization_id -> Text,
        app_id -> Text,
        subject -> Text,
        scope -> Text,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        hosted_session_id -> Nullable<Text>,
    }
}

diesel::table! {
    usage_counts (organization_id, app_id, key_id, period_seconds, bucket, outcome) {
        organization_id -> Text,
        app_id -> Text,
        key_id -> Text,
        period_seconds -> Integer,
        bucket -> BigInt,
        outcome -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    user_credentials (subject) {
        subject -> Text,
        organization_id -> Text,
        user_type -> Text,
        user_id -> Text,
        password_hash -> Nullable<Text>,
        password_set_at -> Nullable<Timestamp>,
        blocked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_links (token_digest) {
        token_digest -> Text,
        organization_id -> Text,
        subject -> Text,
        purpose -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        organization_id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        event_type -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_latency_ms -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        description -> Text,
        events -> Text,
        active -> Bool,
        secret_sealed -> Text,
        previous_secret_sealed -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Text,
        organization_id -> Text,
        event_type -> Text,
        payload -> Text,
        dedupe -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    working_hours (id) {
        id -> Text,
        organization_id -> Text,
        employee_id -> Text,
        weekday -> Integer,
        starts_minute -> Integer,
        ends_minute -> Integer,
    }
}

diesel::joinable!(admin_addresses -> admins (admin_id));
diesel::joinable!(admin_challenges -> admins (admin_id));
diesel::joinable!(admin_links -> admins (admin_id));
diesel::joinable!(admin_links -> organizations (organization_id));
diesel::joinable!(admin_passkeys -> admins (admin_id));
diesel::joinable!(admin_recovery_codes -> admins (admin_id));
diesel::joinable!(admin_tokens -> admins (admin_id));
diesel::joinable!(admin_tokens -> organizations (organization_id));
diesel::joinable!(admins -> organizations (organization_id));
diesel::joinable!(alert_recipients -> employees (employee_id));
diesel::joinable!(alert_recipients -> organizations (organization_id));
diesel::joinable!(api_keys -> apps (app_id));
diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(appointments -> employees (employee_id));
diesel::joinable!(appointments -> guests (guest_id));
diesel::joinable!(appointments -> organizations (organization_id));
diesel::joinable!(appointments -> services (service_id));
diesel::joinable!(apps -> organizations (organization_id));
diesel::joinable!(authorization_codes -> apps (app_id));
diesel::joinable!(authorization_codes -> hosted_sessions (session_id));
diesel::joinable!(authorization_codes -> organizations (organization_id));
diesel::joinable!(authorization_codes -> user_credentials (subject));
diesel::joinable!(employees -> organizations (organization_id));
diesel::joinable!(guests -> organizations (organization_id));
diesel::joinable!(hosted_sessions -> organizations (organization_id));
diesel::joinable!(hosted_sessions -> user_credentials (subject));
diesel::joinable!(idempotency_keys -> admin_tokens (token_id));
diesel::joinable!(installments -> appointments (appointment_id));
diesel::joinable!(installments -> guests (guest_id));
diesel::joinable!(installments -> organizations (organization_id));
diesel::joinable!(key_addresses -> api_keys (key_id));
diesel::joinable!(key_alerts -> api_keys (key_id));
diesel::joinable!(key_alerts -> organizations (organization_id));
diesel::joinable!(operator_tokens -> operators (operator_id));
diesel::joinable!(payments -> appointments (appointment_id));
diesel::joinable!(payments -> guests (guest_id));
diesel::joinable!(payments -> organizations (organization_id));
diesel::joinable!(refresh_tokens -> token_families (family_id));
diesel::joinable!(request_logs -> organizations (organization_id));
diesel::joinable!(retired_keys -> apps (app_id));
diesel::joinable!(retired_keys -> organizations (organization_id));
diesel::joinable!(revoked_access_tokens -> organizations (organization_id));
diesel::joinable!(services -> organizations (organization_id));
diesel::joinable!(sessions -> admins (admin_id));
diesel::joinable!(sessions -> operators (operator_id));
diesel::joinable!(signing_keys -> organizations (organization_id));
diesel::joinable!(token_families -> apps (app_id));
diesel::joinable!(token_families -> organizations (organization_id));
diesel::joinable!(token_families -> user_credentials (subject));
diesel::joinable!(usage_counts -> organizations (organization_id));
diesel::joinable!(user_credentials -> organizations (organization_id));
diesel::joinable!(user_links -> organizations (organization_id));
diesel::joinable!(user_links -> user_credentials (subject));
diesel::joinable!(webhook_deliveries -> organizations (organization_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_endpoints -> organizations (organization_id));
diesel::joinable!(webhook_events -> organizations (organization_id));
diesel::joinable!(working_hours -> employees (employee_id));
diesel::joinable!(working_hours -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_addresses,
    admin_challenges,
    admin_links,
    admin_passkeys,
    admin_recovery_codes,
    admin_tokens,
    admins,
    alert_recipients,
    api_keys,
    appointments,
    apps,
    audit_events,
    authorization_codes,
    change_head,
    changes,
    employees,
    guests,
    hosted_sessions,
    idempotency_keys,
    installments,
    key_addresses,
    key_alerts,
    operator_events,
    operator_tokens,
    operators,
    organizations,
    payments,
    rate_counts,
    refresh_tokens,
    request_logs,
    retired_keys,
    revoked_access_tokens,
    services,
    sessions,
    setup_tokens,
    sign_in_throttle,
    signing_keys,
    token_families,
    usage_counts,
    user_credentials,
    user_links,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    working_hours,
);
