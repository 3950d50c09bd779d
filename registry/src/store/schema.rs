//! diesel table definitions, shared by both backends (see `migrations/`).

diesel::table! {
    models (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        next_version -> BigInt,
        staging_version -> Nullable<BigInt>,
        production_version -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    model_tags (model_id, tag) {
        model_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    versions (id) {
        id -> BigInt,
        model_id -> BigInt,
        version -> BigInt,
        status -> Text,
        digest -> Nullable<Text>,
        size -> Nullable<BigInt>,
        format -> Text,
        expected_digest -> Nullable<Text>,
        signature -> Nullable<Text>,
        metrics -> Text,
        params -> Text,
        tags -> Text,
        source -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stage_history (id) {
        id -> BigInt,
        model_id -> BigInt,
        stage -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    aliases (model_id, alias) {
        model_id -> BigInt,
        alias -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        kind -> Text,
        model -> Text,
        version -> Nullable<BigInt>,
        stage -> Nullable<Text>,
        from_version -> Nullable<BigInt>,
        to_version -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        alias -> Nullable<Text>,
        digest -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(model_tags -> models (model_id));
diesel::joinable!(versions -> models (model_id));
diesel::joinable!(aliases -> models (model_id));
diesel::allow_tables_to_appear_in_same_query!(models, model_tags, versions, aliases);
