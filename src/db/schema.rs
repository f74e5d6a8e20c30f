// The tables as Diesel sees them; kept in step with migrations/sqlite (diesel print-schema).

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
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        admin_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    setup_tokens (token_hash) {
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(admins -> organizations (organization_id));
diesel::joinable!(sessions -> admins (admin_id));

diesel::allow_tables_to_appear_in_same_query!(
    admins,
    audit_events,
    organizations,
    sessions,
    setup_tokens,
);
